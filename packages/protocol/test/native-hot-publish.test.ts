import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeFrame, decodeFrameGeneric } from '../src/native/decode.js';
import { FRAME_TYPE_IDS } from '../src/native/frames.js';
import { decodeHotPublish } from '../src/native/hot-publish.js';
import { msgpack } from '../src/native/msgpack.js';
import { Rng } from './prng.js';

const CHARS = ['a', 'Z', '.', ':', 'é', '€', '𝄞', '中', ' ', '0'];
const text = (rng: Rng, n: number) => Array.from({ length: n }, () => CHARS[rng.int(CHARS.length)]).join('');

/** A client publish frame as a map, keys in a random order, some optional ones left out. */
function frameFields(rng: Rng): Record<string, unknown> {
  const fields: [string, unknown][] = [
    ['type', rng.int(4) === 0 ? FRAME_TYPE_IDS.publish : 'publish'],
    ['channel', text(rng, rng.range(1, rng.bool() ? 40 : 300))],
    ['payload', Buffer.alloc(rng.range(0, rng.bool() ? 300 : 70_000), rng.int(256))],
  ];
  if (rng.bool()) fields.push(['id', [0, 1, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1][rng.int(9)]]);
  if (rng.bool()) fields.push(['event', text(rng, rng.range(0, 40))]);
  for (let i = fields.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [fields[i], fields[j]] = [fields[j] as [string, unknown], fields[i] as [string, unknown]];
  }
  return Object.fromEntries(fields);
}

test('common publish frames take the hot path and decode exactly as through msgpackr', () => {
  const rng = new Rng(20261204);
  for (let round = 0; round < 1500; round++) {
    const body = msgpack.pack(frameFields(rng));
    assert.ok(decodeHotPublish(body) !== undefined, `hot path taken (round ${round})`);
    assert.deepEqual(decodeFrame(body), decodeFrameGeneric(body));
  }
});

test('any byte changed, cut or added: the hot path and msgpackr agree, refusals included, and nothing throws', () => {
  const rng = new Rng(4242);
  let hot = 0;
  for (let round = 0; round < 20_000; round++) {
    const body = Buffer.from(msgpack.pack(frameFields(rng)));
    let bytes: Buffer = body;
    const mutation = rng.int(4);
    if (mutation === 0) bytes[rng.int(bytes.length)] = rng.int(256);
    else if (mutation === 1) bytes = bytes.subarray(0, rng.int(bytes.length));
    else if (mutation === 2) bytes = Buffer.concat([bytes, Buffer.of(rng.int(256))]);
    else {
      // Bytes of interest where the hot path decides: nil, ill-formed UTF-8, other int forms.
      const at = rng.int(bytes.length);
      bytes[at] = [0xc0, 0xff, 0xc3, 0xd0, 0xcf, 0xa0, 0x8f, 0xd9, 0xc4, 0xde][rng.int(10)] as number;
    }
    if (decodeHotPublish(bytes) !== undefined) hot++;
    assert.deepEqual(
      decodeFrame(bytes),
      decodeFrameGeneric(bytes),
      `round ${round}: ${bytes.toString('hex').slice(0, 120)}`,
    );
  }
  assert.ok(hot > 1000, `some mutated frames still took the hot path (${hot})`);
});

test('the hot path leaves duplicate keys, other keys, nil, string payloads and Uint8Array bodies to msgpackr', () => {
  const cases: Uint8Array[] = [
    msgpack.pack({ type: 'publish', channel: 'a', payload: Buffer.of(1), offset: 3 }),
    msgpack.pack({ type: 'publish', channel: 'a', payload: 'text' }),
    msgpack.pack({ type: 'publish', channel: 'a', payload: null }),
    msgpack.pack({ type: 'subscribe', id: 1, channel: 'a' }),
    Buffer.concat([
      Buffer.of(0x83),
      msgpack.pack('type'),
      msgpack.pack('publish'),
      msgpack.pack('channel'),
      msgpack.pack('a'),
      msgpack.pack('channel'),
      msgpack.pack('b'),
    ]),
    new Uint8Array(msgpack.pack({ type: 'publish', channel: 'a', payload: Buffer.of(1) })),
  ];
  for (const body of cases) {
    assert.equal(decodeHotPublish(body), undefined);
    assert.deepEqual(decodeFrame(body), decodeFrameGeneric(body));
  }
});
