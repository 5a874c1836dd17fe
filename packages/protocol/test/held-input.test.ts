import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { InputBudget } from '../src/input-budget.js';
import { PacketSplitter } from '../src/mqtt/packet-splitter.js';
import { FrameReader } from '../src/native/frame-reader.js';
import { FrameParser } from '../src/websocket/frame-parser.js';
import { at } from './element.js';

// However a client splits its bytes, what a parser holds for an unfinished unit is one
// buffer within twice the bytes received (256 bytes at least), and the budget says so.
const SLACK = 256;
const within2x = (held: number, received: number) => held <= Math.max(SLACK, 2 * received);

function maskedHeader(length: number, opcode = 0x2, fin = true): Buffer {
  const header = Buffer.alloc(14);
  header[0] = (fin ? 0x80 : 0) | opcode;
  header[1] = 0x80 | 127;
  header.writeUInt32BE(0, 2);
  header.writeUInt32BE(length, 6);
  return header; // mask 0: payload bytes pass unchanged
}

function maskedSmall(payload: Buffer, opcode: number, fin: boolean): Buffer {
  return Buffer.concat([
    Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | payload.length, 0, 0, 0, 0]),
    payload,
  ]);
}

/** Pushes `bytes` one at a time, checking the budget against the bytes received after each. */
function dribble(
  push: (b: Buffer) => void,
  bytes: Buffer,
  budget: InputBudget,
  counted = bytes.length,
): void {
  let worst = 0;
  for (let i = 0; i < bytes.length; i++) {
    push(bytes.subarray(i, i + 1));
    const received = Math.min(i + 1, counted);
    if (i + 1 < bytes.length) {
      assert.ok(within2x(budget.held, received), `holding ${budget.held} bytes after ${received}`);
      worst = Math.max(worst, budget.held / Math.max(received, SLACK));
    }
  }
  assert.ok(worst <= 2, `worst ratio ${worst}`);
}

test('FrameReader: a 200 KB frame pushed a byte at a time is held in one buffer within 2x, then released', () => {
  const budget = new InputBudget(16 * 1024 * 1024);
  const bodies: Buffer[] = [];
  const reader = new FrameReader(
    { onFrameBody: (b) => bodies.push(Buffer.from(b)), onFrameTooLarge: () => {} },
    1 << 24,
    budget,
  );
  const body = randomBytes(200_000);
  const frame = Buffer.concat([Buffer.alloc(4), body]);
  frame.writeUInt32BE(body.length, 0);
  dribble((b) => reader.push(b), Buffer.concat([frame, frame.subarray(0, 3)]), budget);
  assert.equal(bodies.length, 1);
  assert.ok(at(bodies, 0).equals(body), 'the frame arrives intact');
  assert.equal(reader.bufferedBytes, 3, 'the next prefix is held');
  reader.stop();
  assert.equal(budget.held, 0, 'stop() gives the budget back');
});

test('PacketSplitter: a 200 KB PUBLISH pushed a byte at a time is held within 2x', () => {
  const budget = new InputBudget(16 * 1024 * 1024);
  const packets: Buffer[] = [];
  const splitter = new PacketSplitter(
    {
      onPacket: (p) => packets.push(Buffer.from(p)),
      onPacketTooLarge: () => assert.fail(),
      onMalformedLength: () => assert.fail(),
    },
    1 << 20,
    budget,
  );
  const remaining = 200_000;
  const header = Buffer.from([
    0x30,
    0x80 | (remaining & 0x7f),
    0x80 | ((remaining >> 7) & 0x7f),
    remaining >> 14,
  ]);
  const payload = Buffer.concat([Buffer.from([0, 1, 0x74]), randomBytes(remaining - 3)]);
  const packet = Buffer.concat([header, payload]);
  dribble((b) => splitter.push(b), packet, budget);
  assert.equal(packets.length, 1);
  assert.ok(at(packets, 0).equals(packet));
  assert.equal(budget.held, 0);
});

test('FrameParser: a 200 KB message pushed a byte at a time, and one of 1-byte fragments, are held within 2x', () => {
  const budget = new InputBudget(16 * 1024 * 1024);
  const messages: Buffer[] = [];
  const parser = new FrameParser(
    {
      onMessage: (d) => messages.push(Buffer.from(d)),
      onPing: () => {},
      onPong: () => {},
      onClose: () => {},
      onProtocolError: (code, reason) => assert.fail(`${code} ${reason}`),
    },
    { maxMessageSize: 1 << 20, budget },
  );
  const payload = randomBytes(200_000);
  dribble((b) => parser.push(b), Buffer.concat([maskedHeader(payload.length), payload]), budget);
  assert.equal(messages.length, 1);
  assert.ok(at(messages, 0).equals(payload));
  assert.equal(budget.held, 0);

  // 20,000 fragments of one byte, each its own chunk: copied out, not kept as 20,000 views.
  const fragments = randomBytes(20_000);
  for (let i = 0; i < fragments.length; i++) {
    const last = i === fragments.length - 1;
    parser.push(maskedSmall(fragments.subarray(i, i + 1), i === 0 ? 0x2 : 0x0, last));
    if (!last) assert.ok(within2x(budget.held, i + 1), `holding ${budget.held} after ${i + 1} fragments`);
  }
  assert.equal(messages.length, 2);
  assert.ok(at(messages, 1).equals(fragments));
  assert.equal(budget.held, 0);
});

test('a budget too small for a partial unit stops the parser with its own error', () => {
  const budget = new InputBudget(1000);
  let refused = 0;
  const reader = new FrameReader(
    {
      onFrameBody: () => assert.fail(),
      onFrameTooLarge: () => assert.fail(),
      onInputOverBudget: () => refused++,
    },
    1 << 24,
    budget,
  );
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(10_000, 0);
  reader.push(prefix);
  for (let i = 0; i < 2000 && refused === 0; i++) reader.push(Buffer.alloc(1));
  assert.equal(refused, 1);
  assert.equal(budget.held, 0, 'a refused reader holds nothing');
  assert.equal(budget.refusals, 1);
  reader.push(Buffer.alloc(100));
  assert.equal(refused, 1, 'nothing more is read');

  const closes: number[] = [];
  const parser = new FrameParser(
    {
      onMessage: () => {},
      onPing: () => {},
      onPong: () => {},
      onClose: () => {},
      onProtocolError: (code) => closes.push(code),
    },
    { maxMessageSize: 1 << 20, budget },
  );
  parser.push(maskedHeader(5000));
  parser.push(Buffer.alloc(1500));
  assert.deepEqual(closes, [1013]);
  assert.equal(budget.held, 0);
});
