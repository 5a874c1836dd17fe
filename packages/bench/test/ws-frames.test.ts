import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { at } from '@pulse/protocol/test/element';
import {
  maskedFrame,
  type MessageSink,
  OPCODE_BINARY,
  OPCODE_CONTINUATION,
  OPCODE_PING,
  OPCODE_TEXT,
  unmask,
  WsReader,
} from '../src/generator/ws-frames.js';

/** An unmasked server frame. */
function serverFrame(opcode: number, payload: Buffer, fin = true): Buffer {
  const len = payload.length;
  const head =
    len < 126
      ? Buffer.from([(fin ? 0x80 : 0) | opcode, len])
      : len < 0x10000
        ? Buffer.from([(fin ? 0x80 : 0) | opcode, 126, len >> 8, len & 0xff])
        : Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode, 127, 0, 0, 0, 0]), u32(len)]);
  return Buffer.concat([head, payload]);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** Collects whole messages (a sink that wants bytes). */
class Collect implements MessageSink {
  readonly wantsBytes = true;
  messages: Buffer[] = [];
  private parts: Buffer[] = [];
  bytes(chunk: Buffer, start: number, end: number): void {
    this.parts.push(Buffer.from(chunk.subarray(start, end)));
  }
  end(): void {
    this.messages.push(Buffer.concat(this.parts));
    this.parts = [];
  }
}

/** Only counts (a sink that never sees bytes). */
class Count implements MessageSink {
  readonly wantsBytes = false;
  n = 0;
  bytes(): void {
    throw new Error('a counting sink must not get bytes');
  }
  end(): void {
    this.n++;
  }
}

const payloads = [Buffer.alloc(0), Buffer.from('hello'), Buffer.alloc(300, 1), Buffer.alloc(70000, 2)];
const stream = Buffer.concat(payloads.map((p) => serverFrame(OPCODE_BINARY, p)));

describe('WsReader', () => {
  it('reads several frames from one chunk', () => {
    const sink = new Collect();
    new WsReader(sink, () => {}).push(stream);
    assert.deepEqual(sink.messages, payloads);
  });

  it('reads frames split at every possible place', () => {
    for (const step of [1, 2, 3, 7, 126, 1000]) {
      const sink = new Collect();
      const reader = new WsReader(sink, () => {});
      for (let i = 0; i < stream.length; i += step) reader.push(stream, i, Math.min(stream.length, i + step));
      assert.deepEqual(sink.messages, payloads, `step ${step}`);
    }
  });

  it('counts without reading payloads, in a shared buffer with an offset', () => {
    const sink = new Count();
    const shared = Buffer.concat([Buffer.from('garbage'), stream, Buffer.from('more garbage')]);
    new WsReader(sink, () => {}).push(shared, 7, 7 + stream.length);
    assert.equal(sink.n, payloads.length);
  });

  it('joins fragments and passes control frames in between', () => {
    const sink = new Collect();
    const control: [number, string][] = [];
    const reader = new WsReader(sink, (opcode, payload) => control.push([opcode, payload.toString()]));
    const bytes = Buffer.concat([
      serverFrame(OPCODE_TEXT, Buffer.from('ab'), false),
      serverFrame(OPCODE_PING, Buffer.from('p')),
      serverFrame(OPCODE_CONTINUATION, Buffer.from('cd'), false),
      serverFrame(OPCODE_CONTINUATION, Buffer.from('ef')),
    ]);
    for (let i = 0; i < bytes.length; i++) reader.push(bytes, i, i + 1);
    assert.deepEqual(
      sink.messages.map((m) => m.toString()),
      ['abcdef'],
    );
    assert.deepEqual(control, [[OPCODE_PING, 'p']]);
  });

  it('refuses masked server frames', () => {
    assert.throws(() => new WsReader(new Count(), () => {}).push(maskedFrame(OPCODE_TEXT, 'x')), /masked/);
  });
});

describe('maskedFrame', () => {
  it('sets the mask bit and round-trips every length class', () => {
    for (const p of payloads) {
      const frame = maskedFrame(OPCODE_BINARY, p);
      assert.equal(frame[0], 0x80 | OPCODE_BINARY);
      assert.ok(at(frame, 1) & 0x80);
      const back = unmask(frame);
      assert.equal(back.opcode, OPCODE_BINARY);
      assert.deepEqual(back.payload, p);
    }
  });
});
