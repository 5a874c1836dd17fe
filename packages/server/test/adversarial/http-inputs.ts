import type { Rng } from './fuzz-settings.js';
import { hostileJson } from './json-inputs.js';
import type { Input } from './native-inputs.js';
import { API_KEY } from './pulse-target.js';

/**
 * HTTP requests to the server API as raw bytes, with the right key most of the time (so that
 * bodies are parsed): hostile JSON bodies, lying Content-Length and chunk sizes, odd paths.
 * Never aimed at the bystanders: the key is an administrator's and may rightly disconnect them.
 */

const channel = (rng: Rng) =>
  rng.pick([
    `attack/h${rng.int(5)}`,
    Array(5000).fill('+').join('/'),
    `attack/${Array(3000).fill('a').join('/')}`,
    '$SYS/x',
    '',
    'a'.repeat(70_000),
  ]);

function body(rng: Rng): string {
  switch (rng.int(7)) {
    case 0:
      return `{"channel":${JSON.stringify(channel(rng))},"data":${hostileJson(rng)}}`;
    case 1:
      return `{"channel":"attack/h1","data":${hostileJson(rng)},"event":${hostileJson(rng)}}`;
    case 2:
      return `{"channels":[${Array.from({ length: rng.pick([2, 1000, 1001]) }, () => JSON.stringify(`attack/b${rng.int(50)}`)).join(',')}],"data":${hostileJson(rng)}}`;
    case 3:
      return `{"connection_id":${hostileJson(rng)}}`;
    case 4:
      return `{"client_id":${JSON.stringify(`mallory-${rng.int(100)}`)}}`;
    case 5:
      return hostileJson(rng);
    default:
      return `{"channel":"attack/h2","data":"${'x'.repeat(rng.pick([1000, 70_000, 200_000]))}"}`;
  }
}

const PATHS = [
  '/api/publish',
  '/api/broadcast',
  '/api/disconnect',
  '/api/channels?prefix=attack',
  '/api/presence/attack%2Fh1',
  '/api/history/attack%2Fh1?limit=5000&since_offset=-1&epoch=x',
  '/api/nosuch',
  '/api/presence/%ff%fe',
  `/api/presence/${'a/'.repeat(3000)}`,
  '/health',
  '/ws',
  '/mqtt',
];

/** One request: method, path, headers (key, length, encoding) and body, any of them wrong. */
export function httpInput(rng: Rng): Input {
  const method = rng.pick(['POST', 'POST', 'GET', 'PUT', 'DELETE', 'OPTIONS', 'POST ']);
  const path = rng.pick(PATHS);
  const payload = Buffer.from(method.startsWith('POST') ? body(rng) : '');
  const headers = ['Host: 127.0.0.1', 'Content-Type: application/json'];
  const key = rng.int(10);
  if (key < 8) headers.push(`x-api-key: ${API_KEY}`);
  else if (key === 8) headers.push(`x-api-key: ${'k'.repeat(rng.pick([1, 20_000]))}`);
  let framed: Buffer;
  switch (rng.int(6)) {
    case 0: {
      // A length declared far past the body (2^53, 4 GiB, just past the body limit).
      const declared = rng.pick(['9007199254740993', '4294967296', '262145', '-1', '1e3', '0x10']);
      headers.push(`Content-Length: ${declared}`);
      framed = payload;
      break;
    }
    case 1: {
      headers.push('Transfer-Encoding: chunked');
      const size = rng.pick([
        'FFFFFFFFFFFFFFFF',
        '7fffffff',
        payload.length.toString(16),
        'zz',
        '1;ext=' + 'e'.repeat(9000),
      ]);
      framed = Buffer.concat([Buffer.from(`${size}\r\n`), payload, Buffer.from('\r\n0\r\n\r\n')]);
      break;
    }
    case 2:
      // Both lengths at once (request smuggling's favourite).
      headers.push(`Content-Length: ${payload.length}`, 'Transfer-Encoding: chunked');
      framed = payload;
      break;
    case 3:
      headers.push(
        ...Array.from({ length: rng.pick([200, 3000]) }, (_, i) => `X-H${i}: ${i}`),
        `Content-Length: ${payload.length}`,
      );
      framed = payload;
      break;
    default:
      headers.push(`Content-Length: ${payload.length}`);
      framed = payload;
  }
  const head = Buffer.from(`${method} ${path} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n`, 'latin1');
  return { what: `${method} ${path.slice(0, 40)}`, bytes: Buffer.concat([head, framed]) };
}
