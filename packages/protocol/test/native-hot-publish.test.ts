import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeFrame, decodeFrameGeneric, FrameError } from '../src/native/decode.js';
import { FRAME_TYPE_IDS } from '../src/native/frames.js';
import { decodeHotPublish } from '../src/native/hot-publish.js';
import { msgpack } from '../src/native/msgpack.js';
import { RecentName } from '../src/recent-name.js';
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

test('edge forms: BOM, U+FFFD, NUL and surrogate bytes around msgpackr decoder switches, long headers, views at an offset', () => {
  const str = (b: Buffer, form: number): Buffer => {
    if (form === 0 && b.length < 32) return Buffer.concat([Buffer.of(0xa0 | b.length), b]);
    const header = Buffer.alloc(form === 2 ? 3 : form === 3 ? 5 : 2);
    header[0] = form === 2 ? 0xda : form === 3 ? 0xdb : 0xd9;
    header.writeUIntBE(b.length, 1, header.length - 1);
    return Buffer.concat([header, b]);
  };
  const key = (k: string) => Buffer.concat([Buffer.of(0xa0 | k.length), Buffer.from(k)]);
  // Valid (BOM, U+FFFD, NUL, 4-byte) and ill-formed (CESU-8 surrogate, overlong NUL) pieces.
  const pieces = [
    [0xef, 0xbb, 0xbf],
    [0xef, 0xbf, 0xbd],
    [0x00],
    [0xf0, 0x9d, 0x84, 0x9e],
    [0xed, 0xa0, 0x80],
    [0xc0, 0x80],
  ];
  let hot = 0;
  for (const piece of pieces) {
    // msgpackr decodes strings of up to 15, up to 64 and over 64 bytes differently, in JS or natively.
    for (const filler of [0, 12, 13, 60, 61, 62, 63, 64, 65, 200]) {
      const text = Buffer.concat([Buffer.from(piece), Buffer.alloc(filler, 0x61)]);
      for (const form of [0, 1, 2, 3]) {
        for (const where of ['channel', 'event']) {
          const body = Buffer.concat([
            Buffer.of(0x84),
            key('type'),
            Buffer.of(FRAME_TYPE_IDS.publish),
            key('channel'),
            where === 'channel' ? str(text, form) : Buffer.of(0xa1, 0x63),
            key('event'),
            where === 'event' ? str(text, form) : Buffer.of(0xa0),
            key('payload'),
            Buffer.of(0xc5, 0x00, 0x02, 7, 8),
          ]);
          // The same bytes as a view into a larger buffer, at an odd offset.
          const view = Buffer.concat([Buffer.alloc(3, 0xc1), body, Buffer.alloc(5, 0xa1)]).subarray(
            3,
            3 + body.length,
          );
          for (const bytes of [body, view]) {
            if (decodeHotPublish(bytes) !== undefined) hot++;
            const mine = decodeFrame(bytes);
            const theirs = decodeFrameGeneric(bytes);
            assert.deepEqual(mine, theirs, bytes.toString('hex').slice(0, 120));
            if (mine instanceof FrameError || mine.type !== 'publish') continue;
            if (theirs instanceof FrameError || theirs.type !== 'publish') continue;
            assert.equal(mine.payload.buffer, theirs.payload.buffer, 'the payload is a view of the body');
            assert.equal(mine.payload.byteOffset, theirs.payload.byteOffset);
          }
        }
      }
    }
  }
  assert.ok(hot > 300, `the well-formed ones took the hot path (${hot})`);
});

test('a connection reading channels again (RecentName) decodes exactly as msgpackr, mutated frames included', () => {
  const rng = new Rng(0xc4a77e1);
  // Few channels: same bytes, same length with other bytes, non-ASCII, longer than remembered.
  const pool = [
    'room/1',
    'room/2',
    'Room/1',
    'room/10',
    'caf\u00e9/\u{1d11e}',
    'x'.repeat(128),
    `${'x'.repeat(128)}y`,
  ];
  const names = new RecentName();
  for (let round = 0; round < 5000; round++) {
    const fields = frameFields(rng);
    fields.channel = rng.pick(pool);
    let bytes = Buffer.from(msgpack.pack(fields));
    if (rng.int(4) === 0) {
      // A damaged channel string: a byte of it changed (ill-formed UTF-8 among others).
      const at = bytes.indexOf(Buffer.from('channel')) + 8 + rng.int(4);
      if (at < bytes.length) bytes[at] = rng.int(256);
    } else if (rng.int(8) === 0) bytes = bytes.subarray(0, rng.int(bytes.length));
    assert.deepEqual(
      decodeFrame(bytes, names),
      decodeFrameGeneric(bytes),
      `round ${round}: ${bytes.toString('hex').slice(0, 120)}`,
    );
  }
});
