import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeFrame, FrameError } from '../src/native/decode.js';
import { encodeFrame, LENGTH_PREFIX_BYTES } from '../src/native/encode.js';
import { FrameReader } from '../src/native/frame-reader.js';
import type { PublishFrame } from '../src/native/frames.js';
import { Rng } from './prng.js';
import { at } from './element.js';

function randomPublish(rng: Rng, payloadSize: number): PublishFrame {
  const frame: PublishFrame = {
    type: 'publish',
    channel: rng.bool(0.7) ? rng.string(rng.range(1, 256), true) : rng.string(rng.range(0, 300)),
    payload: rng.bytes(payloadSize),
  };
  if (rng.bool()) frame.id = rng.bool(0.8) ? rng.int(2 ** 32) : rng.range(0, Number.MAX_SAFE_INTEGER);
  if (rng.bool()) frame.event = rng.string(rng.range(0, 40));
  return frame;
}

/** Payload sizes around every MessagePack bin header boundary, then random sizes up to 70000. */
function payloadSizes(rng: Rng, randomCount: number): number[] {
  const edges = [0, 1, 31, 32, 255, 256, 257, 65535, 65536, 65537, 70000];
  const sizes = [...edges];
  for (let i = 0; i < randomCount; i++) sizes.push(rng.bool(0.7) ? rng.int(2000) : rng.int(70001));
  return sizes;
}

function assertSamePublish(actual: unknown, expected: PublishFrame, context: string): void {
  assert.ok(!(actual instanceof FrameError), `${context}: ${(actual as FrameError).message}`);
  const got = actual as PublishFrame;
  assert.equal(got.type, 'publish', context);
  assert.equal(got.channel, expected.channel, `${context}: channel`);
  assert.equal(got.id, expected.id, `${context}: id`);
  assert.equal(got.event, expected.event, `${context}: event`);
  assert.equal(got.payload.length, expected.payload.length, `${context}: payload length`);
  assert.ok(Buffer.from(got.payload).equals(Buffer.from(expected.payload)), `${context}: payload bytes`);
}

test('random publish frames round trip exactly', () => {
  const rng = new Rng(0xc0ffee);
  for (const [i, size] of payloadSizes(rng, 150).entries()) {
    const frame = randomPublish(rng, size);
    const encoded = encodeFrame(frame);
    assert.equal(encoded.readUInt32BE(0), encoded.length - LENGTH_PREFIX_BYTES);
    assertSamePublish(decodeFrame(encoded.subarray(LENGTH_PREFIX_BYTES)), frame, `seed ${rng.seed} #${i}`);
  }
});

test('random publish frames round trip with headroom', () => {
  const rng = new Rng(7);
  for (let i = 0; i < 100; i++) {
    const frame = randomPublish(rng, rng.int(3000));
    const headroom = rng.int(16);
    const encoded = encodeFrame(frame, headroom);
    const length = encoded.readUInt32BE(headroom);
    assert.equal(length, encoded.length - headroom - LENGTH_PREFIX_BYTES);
    assertSamePublish(decodeFrame(encoded.subarray(headroom + LENGTH_PREFIX_BYTES)), frame, `#${i}`);
  }
});

interface Collected {
  bodies: Buffer[];
  tooLarge: number[];
  /** Set when anything is delivered after onFrameTooLarge. */
  afterFailure: number;
}

function collectingReader(maxFrameSize: number): { reader: FrameReader; got: Collected } {
  const got: Collected = { bodies: [], tooLarge: [], afterFailure: 0 };
  const reader = new FrameReader(
    {
      onFrameBody(body) {
        if (got.tooLarge.length > 0) got.afterFailure++;
        // Bodies may be views of the input: keep a copy.
        got.bodies.push(Buffer.from(body));
      },
      onFrameTooLarge(declared) {
        if (got.tooLarge.length > 0) got.afterFailure++;
        got.tooLarge.push(declared);
      },
    },
    maxFrameSize,
  );
  return { reader, got };
}

function prefixed(body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(LENGTH_PREFIX_BYTES + body.length);
  out.writeUInt32BE(body.length, 0);
  body.copy(out, LENGTH_PREFIX_BYTES);
  return out;
}

function randomBodies(rng: Rng, n: number, maxSize: number): Buffer[] {
  const bodies: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const size = rng.bool(0.1) ? 0 : rng.bool(0.8) ? rng.int(64) : rng.int(maxSize + 1);
    bodies.push(rng.bytes(size));
  }
  return bodies;
}

test('FrameReader yields exactly the N bodies in order, whatever the chunking', () => {
  const rng = new Rng(0xdecaf);
  const cap = 1 << 20;
  for (let trial = 0; trial < 50; trial++) {
    const bodies = randomBodies(rng, rng.range(1, 40), 3000);
    const stream = Buffer.concat(bodies.map(prefixed));
    // Mix chunk size regimes: 1-byte chunks, tiny chunks, around the prefix size, large chunks.
    const maxChunk = rng.pick([1, 3, 5, 64, 1000, stream.length]);
    const { reader, got } = collectingReader(cap);
    let maxBuffered = 0;
    for (const chunk of rng.split(stream, maxChunk)) {
      // Inputs are handed over as fresh buffers, as a socket does.
      reader.push(Buffer.from(chunk));
      maxBuffered = Math.max(maxBuffered, reader.bufferedBytes);
    }
    const context = `trial ${trial} (seed ${rng.seed}, maxChunk ${maxChunk})`;
    assert.equal(got.bodies.length, bodies.length, context);
    got.bodies.forEach((body, i) => {
      assert.ok(body.equals(at(bodies, i)), `${context}: body ${i}`);
    });
    assert.equal(got.tooLarge.length, 0, context);
    assert.equal(reader.bufferedBytes, 0, `${context}: nothing left over`);
    const largest = Math.max(...bodies.map((b) => b.length));
    assert.ok(maxBuffered < LENGTH_PREFIX_BYTES + largest, `${context}: buffered ${maxBuffered}`);
  }
});

test('FrameReader with every split point of a small stream', () => {
  const rng = new Rng(99);
  const bodies = randomBodies(rng, 6, 20);
  const stream = Buffer.concat(bodies.map(prefixed));
  for (let a = 0; a <= stream.length; a++) {
    for (let b = a; b <= stream.length; b += 3) {
      const { reader, got } = collectingReader(1000);
      reader.push(stream.subarray(0, a));
      reader.push(stream.subarray(a, b));
      reader.push(stream.subarray(b));
      assert.equal(got.bodies.length, bodies.length, `split at ${a}/${b}`);
      got.bodies.forEach((body, i) => {
        assert.ok(body.equals(at(bodies, i)), `split at ${a}/${b}: body ${i}`);
      });
    }
  }
});

test('FrameReader pieces real encoded frames back together', () => {
  const rng = new Rng(4242);
  const frames: PublishFrame[] = [];
  for (let i = 0; i < 40; i++) frames.push(randomPublish(rng, rng.bool(0.9) ? rng.int(500) : rng.int(70001)));
  const stream = Buffer.concat(frames.map((f) => encodeFrame(f)));
  for (const maxChunk of [1, 7, 4096, 65536]) {
    const { reader, got } = collectingReader(16 * 1024 * 1024);
    // Tiny chunks over 70 KB frames cost seconds (each push re-copies the unfinished frame), so
    // they are used on the leading part of the stream only.
    const slow = maxChunk < 100 ? 16384 : 0;
    for (const chunk of rng.split(stream.subarray(0, slow), maxChunk)) reader.push(Buffer.from(chunk));
    for (const chunk of rng.split(stream.subarray(slow), Math.max(maxChunk, 4096))) {
      reader.push(Buffer.from(chunk));
    }
    assert.equal(got.bodies.length, frames.length);
    got.bodies.forEach((body, i) => {
      assertSamePublish(decodeFrame(body), at(frames, i), `chunk ${maxChunk} #${i}`);
    });
  }
});

test('a declared length over the cap triggers onFrameTooLarge once and nothing after', () => {
  const rng = new Rng(31337);
  for (let trial = 0; trial < 80; trial++) {
    const cap = rng.range(16, 4096);
    const before = randomBodies(rng, rng.int(6), cap).filter((b) => b.length <= cap);
    const after = randomBodies(rng, rng.range(1, 6), cap).filter((b) => b.length <= cap);
    const declared = rng.bool(0.3) ? cap + 1 : rng.range(cap + 1, 0xffffffff);
    const bad = Buffer.alloc(LENGTH_PREFIX_BYTES);
    bad.writeUInt32BE(declared >>> 0, 0);
    // The oversized frame's "body" may or may not follow: it must not matter.
    const badBody = rng.bytes(rng.int(200));
    const stream = Buffer.concat([...before.map(prefixed), bad, badBody, ...after.map(prefixed)]);
    const { reader, got } = collectingReader(cap);
    const maxChunk = rng.pick([1, 4, 9, 300, stream.length]);
    for (const chunk of rng.split(stream, maxChunk)) {
      reader.push(Buffer.from(chunk));
      assert.ok(
        reader.bufferedBytes < LENGTH_PREFIX_BYTES + cap,
        'buffered more than one frame under the cap',
      );
    }
    // More data after the failure is ignored too.
    reader.push(prefixed(Buffer.from('late')));
    const context = `trial ${trial} cap ${cap} declared ${declared}`;
    assert.deepEqual(got.tooLarge, [declared >>> 0], context);
    assert.equal(got.afterFailure, 0, `${context}: something after the failure`);
    assert.equal(got.bodies.length, before.length, context);
    got.bodies.forEach((body, i) => {
      assert.ok(body.equals(at(before, i)), `${context}: body ${i}`);
    });
  }
});

test('the cap is inclusive and checked from the prefix alone', () => {
  const cap = 100;
  const { reader, got } = collectingReader(cap);
  reader.push(prefixed(Buffer.alloc(cap, 1)));
  assert.equal(got.bodies.length, 1);
  assert.equal(at(got.bodies, 0).length, cap);
  // Only the 4 prefix bytes of an oversized frame: refused at once, nothing held.
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(cap + 1);
  reader.push(prefix.subarray(0, 3));
  assert.equal(got.tooLarge.length, 0, 'three bytes are not a length yet');
  reader.push(prefix.subarray(3));
  assert.deepEqual(got.tooLarge, [cap + 1]);
  assert.equal(reader.bufferedBytes, 0);
});

test('a 4 GiB declared length is refused without allocating', () => {
  const { reader, got } = collectingReader(16 * 1024 * 1024);
  const before = process.memoryUsage().arrayBuffers;
  reader.push(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
  assert.deepEqual(got.tooLarge, [0xffffffff]);
  assert.equal(reader.bufferedBytes, 0);
  assert.ok(process.memoryUsage().arrayBuffers - before < 1024 * 1024);
});

test('stop() drops buffered data and ignores later input', () => {
  const { reader, got } = collectingReader(1000);
  const stream = Buffer.concat([prefixed(Buffer.from('one')), prefixed(Buffer.from('two'))]);
  reader.push(stream.subarray(0, 9));
  assert.equal(got.bodies.length, 1);
  assert.ok(reader.bufferedBytes > 0);
  reader.stop();
  assert.equal(reader.bufferedBytes, 0);
  reader.push(stream.subarray(9));
  reader.push(prefixed(Buffer.from('three')));
  assert.equal(got.bodies.length, 1);
  assert.equal(got.tooLarge.length, 0);
});

test('a handler that stops the reader from onFrameBody gets no further frames from the same chunk', () => {
  const bodies: string[] = [];
  const reader: FrameReader = new FrameReader(
    {
      onFrameBody(body) {
        bodies.push(body.toString());
        if (bodies.length === 2) reader.stop();
      },
      onFrameTooLarge() {
        assert.fail('not expected');
      },
    },
    1000,
  );
  reader.push(Buffer.concat(['a', 'b', 'c', 'd'].map((s) => prefixed(Buffer.from(s)))));
  assert.deepEqual(bodies, ['a', 'b']);
  assert.equal(reader.bufferedBytes, 0);
});

test('zero-length frames are delivered as empty bodies', () => {
  const { reader, got } = collectingReader(10);
  reader.push(Buffer.alloc(12)); // three zero-length frames
  assert.equal(got.bodies.length, 3);
  for (const body of got.bodies) assert.equal(body.length, 0);
});
