import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FrameReader } from '../src/native/frame-reader.js';
import { FrameParser } from '../src/websocket/frame-parser.js';
import { at } from './element.js';

const MiB = 1024 * 1024;

// A 16 MiB frame trickled in 16 KiB chunks: joining the chunks on every arrival would copy
// about 8 GiB; joining once the frame is complete copies 16 MiB. The byte counts below are
// what the readers report they hold, which is what bounds the copying.
test('FrameReader buffers a large frame in pieces and joins it once', () => {
  const bodies: Buffer[] = [];
  const reader = new FrameReader(
    { onFrameBody: (b) => bodies.push(Buffer.from(b)), onFrameTooLarge: () => {} },
    16 * MiB,
  );
  const frame = Buffer.alloc(4 + 16 * MiB - 4, 7);
  frame.writeUInt32BE(16 * MiB - 8, 0);
  const started = process.hrtime.bigint();
  for (let pos = 0; pos < frame.length; pos += 16 * 1024) reader.push(frame.subarray(pos, pos + 16 * 1024));
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  assert.equal(bodies.length, 1);
  assert.equal(at(bodies, 0).length, 16 * MiB - 8);
  assert.equal(reader.bufferedBytes, 0);
  assert.ok(ms < 2000, `took ${ms} ms`);
});

test('FrameParser buffers a large masked frame in pieces and joins it once', () => {
  const messages: Buffer[] = [];
  const parser = new FrameParser(
    {
      onMessage: (d) => messages.push(d),
      onPing: () => {},
      onPong: () => {},
      onClose: () => {},
      onProtocolError: (code, reason) => assert.fail(`${code} ${reason}`),
    },
    { maxMessageSize: 16 * MiB },
  );
  const length = 16 * MiB;
  const frame = Buffer.alloc(14 + length, 0);
  frame[0] = 0x82;
  frame[1] = 0x80 | 127;
  frame.writeUInt32BE(0, 2);
  frame.writeUInt32BE(length, 6);
  const started = process.hrtime.bigint();
  for (let pos = 0; pos < frame.length; pos += 16 * 1024) {
    parser.push(Buffer.from(frame.subarray(pos, pos + 16 * 1024)));
    if (pos > 0 && pos + 16 * 1024 < frame.length) assert.ok(parser.bufferedBytes <= pos + 16 * 1024);
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  assert.equal(messages.length, 1);
  assert.equal(at(messages, 0).length, length);
  assert.ok(ms < 2000, `took ${ms} ms`);
});
