import type { Rng } from './fuzz-settings.js';
import type { Input } from './native-inputs.js';
import { upgradeHeaders, upgradeRequest } from './ws-raw.js';

/** WebSocket upgrade requests gone wrong, on /ws, /mqtt and paths nobody serves. */

const PATHS = [
  '/ws',
  '/mqtt',
  '/',
  '/nosuch',
  '/ws?x=1',
  '/ws/../mqtt',
  '/%00',
  `/${'p'.repeat(20_000)}`,
  '*',
  'http://127.0.0.1/ws',
  '/ws#frag',
];

export function upgradeInput(rng: Rng, host: string): Input {
  const path = rng.pick(PATHS);
  const headers = upgradeHeaders(
    host,
    rng.pick([undefined, 'mqtt', 'mqttv3.1', 'pulse', 'mqtt, mqtt', Array(5000).fill('x').join(', ')]),
  );
  let what = `upgrade ${path.slice(0, 30)}`;
  switch (rng.int(12)) {
    case 0:
      headers.splice(3, 1);
      what += ' without a key';
      break;
    case 1:
      headers[3] = `Sec-WebSocket-Key: ${rng.pick(['', 'short', 'x'.repeat(10_000), '!!!!!!!!!!!!!!!!!!!!!!!='])}`;
      what += ' with a bad key';
      break;
    case 2:
      headers[4] = `Sec-WebSocket-Version: ${rng.pick(['8', '14', 'abc', '13, 8', '-1', '99999999999999999999'])}`;
      what += ' with a bad version';
      break;
    case 3:
      headers.splice(
        1,
        2,
        rng.pick(['Upgrade: h2c', 'Connection: keep-alive', 'Upgrade: websocket, websocket']),
      );
      what += ' with a bad Upgrade/Connection';
      break;
    case 4:
      headers.push(
        ...Array.from(
          { length: rng.pick([100, 2000]) },
          (_, i) => `Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=${i}`,
        ),
      );
      what += ' with many extension offers';
      break;
    case 5:
      headers.push(`X-Big: ${'b'.repeat(rng.pick([8000, 70_000]))}`);
      what += ' with a huge header';
      break;
    case 6:
      headers.push('bad header line', ' folded: continuation', 'Nul: a\0b');
      what += ' with malformed header lines';
      break;
    case 7:
      headers.push(
        `Sec-WebSocket-Extensions: ${rng.pick(['permessage-deflate', 'permessage-deflate; server_max_window_bits=0', 'x-webkit-deflate-frame'])}`,
      );
      what += ' offering compression';
      break;
    case 8:
      // A request line of another method or version.
      return {
        what: `${what} as POST / HTTP/1.0`,
        bytes: Buffer.from(
          upgradeRequest(path, headers)
            .toString('latin1')
            .replace(/^GET (.*) HTTP\/1\.1/, `${rng.pick(['POST', 'HEAD', 'CONNECT'])} $1 HTTP/1.0`),
          'latin1',
        ),
      };
    case 9:
      // Frames right behind the request, in the same write.
      return {
        what: `${what} with bytes behind it`,
        bytes: Buffer.concat([upgradeRequest(path, headers), rng.bytes(rng.range(1, 200))]),
      };
    case 10:
      return {
        what: `${what} cut short`,
        bytes: upgradeRequest(path, headers).subarray(0, rng.range(1, 60)),
      };
    default:
  }
  return { what, bytes: upgradeRequest(path, headers) };
}
