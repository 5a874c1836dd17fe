import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeFrame, FrameError } from '../src/native/decode.js';
import { encodeFrame, LENGTH_PREFIX_BYTES } from '../src/native/encode.js';
import { encodePublishFrame, type PublishFields } from '../src/native/publish-writer.js';
import { Rng } from './prng.js';

const CHARS = ['a', 'Z', '.', ':', 'é', '€', '𝄞', '中', ' ', '0'];

function text(rng: Rng, length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) s += CHARS[rng.int(CHARS.length)];
  return s;
}

test('a publish frame is the bytes msgpackr writes for it, with and without each optional field and headroom', () => {
  const rng = new Rng(20261204);
  // Lengths around each str/bin header boundary (UTF-8 bytes: the chars above are 1 to 4 bytes).
  const lengths = [0, 1, 10, 31, 32, 100, 255, 256, 5000, 65_535, 65_536, 70_000];
  const offsets = [0, 1, 127, 128, 255, 256, 65_535, 65_536, 0xffff_ffff, 2 ** 32, 2 ** 53 - 1, 1.5];
  for (let round = 0; round < 800; round++) {
    const pick = (a: number[]) => (round < 100 ? (a[round % a.length] as number) : rng.range(0, 300));
    const f: PublishFields = {
      channel:
        round < 100 ? 'c'.repeat(Math.max(1, Math.min(pick(lengths), 70_000))) : text(rng, rng.range(1, 80)),
      payload: Buffer.alloc(pick(lengths), rng.int(256)),
    };
    if (rng.bool()) f.event = text(rng, rng.range(0, 40));
    if (rng.bool()) f.offset = round < 100 ? (offsets[round % offsets.length] as number) : rng.range(0, 1e6);
    if (rng.bool()) f.epoch = text(rng, rng.range(0, 20));
    const headroom = rng.int(12);
    const mine = encodePublishFrame(f, headroom);
    // In the order the server's frames have (native-encoding.ts); msgpackr leaves out undefined.
    const { channel, event, payload, offset, epoch } = f;
    const library = encodeFrame({ type: 'publish', channel, event, payload, offset, epoch }, headroom);
    assert.deepEqual(
      mine.subarray(headroom),
      library.subarray(headroom),
      JSON.stringify({ ...f, payload: f.payload.length }),
    );
    const back = decodeFrame(mine.subarray(headroom + LENGTH_PREFIX_BYTES));
    assert.ok(!(back instanceof FrameError) && back.type === 'publish', 'decodes as a publish frame');
    // A client's decoder reads the same fields back (an offset that is not an integer is not one it takes).
    const decoded = { channel: back.channel, event: back.event, payload: back.payload, epoch: back.epoch };
    assert.ok(
      decoded.channel === channel && decoded.event === event && decoded.epoch === epoch,
      'strings read back',
    );
    assert.ok(Buffer.from(payload).equals(decoded.payload), 'payload reads back');
    if (Number.isSafeInteger(offset)) assert.equal(back.offset, offset);
  }
});

test('a lone surrogate is written as U+FFFD, valid UTF-8 (msgpackr writes bytes that are not UTF-8)', () => {
  for (const channel of ['a\ud800b', '\udc00', `${'x'.repeat(40)}\ud83d`]) {
    const frame = encodePublishFrame({ channel, payload: Buffer.of(1) });
    const back = decodeFrame(frame.subarray(LENGTH_PREFIX_BYTES));
    assert.ok(!(back instanceof FrameError) && back.type === 'publish');
    assert.equal(back.channel, channel.replace(/[\ud800-\udfff]/g, '\ufffd'));
    const library = encodeFrame({ type: 'publish', channel, payload: Buffer.of(1) });
    assert.notDeepEqual(frame, library, 'msgpackr differs here: the test documents why');
  }
});

test('a null event or epoch goes through msgpackr (nil), rather than throwing', () => {
  for (const f of [
    { channel: 'a', event: null, payload: Buffer.of(1) },
    { channel: 'a', epoch: null, payload: Buffer.of(1) },
  ]) {
    const fields = f as unknown as Parameters<typeof encodePublishFrame>[0];
    const { channel, event, payload, offset, epoch } = fields;
    assert.deepEqual(
      encodePublishFrame(fields),
      encodeFrame({ type: 'publish', channel, event, payload, offset, epoch } as never),
    );
  }
});
