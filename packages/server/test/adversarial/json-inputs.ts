import { JSON_METHODS } from '../../src/json/json-messages.js';
import type { Rng } from './fuzz-settings.js';
import type { Input } from './native-inputs.js';

/** JSON values and requests as a hostile client writes them (as text, so they can be anything). */

export function hostileJson(rng: Rng): string {
  switch (rng.int(10)) {
    case 0:
      return `${'['.repeat(rng.pick([3000, 100_000]))}${']'.repeat(rng.bool(0.8) ? 0 : 1)}`;
    case 1: {
      const depth = rng.pick([500, 3000]);
      return `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
    }
    case 2:
      return rng.pick([
        '1e999999',
        '-1e400',
        '123456789'.repeat(2000),
        '0.000000000000000000000000001e-400',
        '18446744073709551617',
        '-0',
      ]);
    case 3:
      return JSON.stringify(rng.string(rng.range(0, 60)));
    case 4:
      return rng.pick(['"\\ud800"', '"\\udfff\\ud800"', '"\\u0000"', `"${'\\u00e9'.repeat(5000)}"`]);
    case 5:
      return '{"__proto__":{"polluted":1},"constructor":{"prototype":{"x":1}},"a":1,"a":2}';
    case 6:
      return `{${Array.from({ length: 5000 }, (_, i) => `"k${i}":${i}`).join(',')}}`;
    case 7:
      return `[${Array(rng.pick([1000, 100_000]))
        .fill('0')
        .join(',')}]`;
    case 8:
      return rng.pick(['null', 'true', '{}', '[]', '""', 'NaN', 'undefined', "{'a':1}", '{"a":1,}']);
    default:
      return `{"v":${rng.int(1000)},"s":${JSON.stringify(rng.string(8))}}`;
  }
}

const METHODS = [...JSON_METHODS, 'nosuch'];

function channel(rng: Rng): string {
  switch (rng.int(8)) {
    case 0:
      return JSON.stringify(Array(5000).fill('+').join('/'));
    case 1:
      return JSON.stringify(rng.pick(['bystander/native', '#', 'bystander/#', '$share/g/bystander/#']));
    case 2:
      return hostileJson(rng);
    default:
      return JSON.stringify(`attack/j${rng.int(6)}`);
  }
}

/** One text message: a request with hostile parts, a broken request, or not JSON at all. */
export function jsonInput(rng: Rng): Input {
  const id = rng.pick([
    `${rng.int(1000)}`,
    JSON.stringify('x'.repeat(rng.pick([8, 65, 70_000]))),
    hostileJson(rng),
    '-1',
    '1.5',
  ]);
  const method = rng.pick(METHODS);
  let text: string;
  switch (rng.int(6)) {
    case 0:
    case 1:
      text = `{"id":${id},"method":"${method}","params":{"channel":${channel(rng)},"data":${hostileJson(rng)}}}`;
      break;
    case 2:
      text = `{"id":${id},"method":"presence_join","params":{"channel":${channel(rng)},"data":{"v":${hostileJson(rng)}}}}`;
      break;
    case 3:
      text = `{"id":${id},"method":"${method}","params":${hostileJson(rng)}}`;
      break;
    case 4:
      text = `{"id":${id},"method":"history","params":{"channel":${channel(rng)},"since":${hostileJson(rng)},"limit":${hostileJson(rng)}}}`;
      break;
    default:
      text = hostileJson(rng);
  }
  return { what: `${method} request`, bytes: Buffer.from(text) };
}
