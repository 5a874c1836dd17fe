import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Packr } from 'msgpackr';
import { decodeFrame, FrameError } from '../src/native/decode.js';
import { ErrorCode } from '../src/native/error-codes.js';
import { msgpack } from '../src/native/msgpack.js';
import { MAX_FRAME_ITEMS, MAX_NESTING_DEPTH, plainMessagePackProblem } from '../src/native/plain-msgpack.js';
import { at } from './element.js';
import { Rng } from './prng.js';

const plainPacker = new Packr({ useRecords: false, variableMapSize: true });
/** What an attacker's msgpackr writes: every extension msgpackr knows. */
const clonePacker = new Packr({ structuredClone: true, useRecords: false });
const typesPacker = new Packr({ moreTypes: true, useRecords: false, useBigIntExtension: true } as never);

class NotPlain extends Error {}

/**
 * The strict plain MessagePack view, written from the specification and nothing else:
 * nil, booleans, ints, floats, str, bin, arrays, maps with str keys, at most `maxDepth` deep,
 * one value filling the input. Throws NotPlain on anything else.
 */
function strictDecode(bytes: Uint8Array, maxDepth = MAX_NESTING_DEPTH): unknown {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  let items = 0;
  const count = (n: number) => {
    items += n;
    if (items > MAX_FRAME_ITEMS) throw new NotPlain('items');
  };
  const need = (n: number) => {
    if (pos + n > bytes.length) throw new NotPlain('short');
  };
  const str = (n: number) => {
    need(n);
    const s = Buffer.from(bytes.buffer, bytes.byteOffset + pos, n).toString('utf8');
    pos += n;
    return s;
  };
  const bin = (n: number) => {
    need(n);
    const b = Buffer.from(bytes.subarray(pos, pos + n));
    pos += n;
    return b;
  };
  const num = <T>(n: number, read: (at: number) => T): T => {
    need(n);
    const v = read(pos);
    pos += n;
    return v;
  };
  const value = (depth: number, key: boolean): unknown => {
    need(1);
    const b = at(bytes, pos++);
    const isStr = (b >= 0xa0 && b <= 0xbf) || (b >= 0xd9 && b <= 0xdb);
    if (key && !isStr) throw new NotPlain('key');
    if (b <= 0x7f) return b;
    if (b >= 0xe0) return b - 0x100;
    if (b <= 0x8f) return map(b & 0x0f, depth);
    if (b <= 0x9f) return array(b & 0x0f, depth);
    if (b <= 0xbf) return str(b & 0x1f);
    switch (b) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
        return bin(num(1, (a) => view.getUint8(a)));
      case 0xc5:
        return bin(num(2, (a) => view.getUint16(a)));
      case 0xc6:
        return bin(num(4, (a) => view.getUint32(a)));
      case 0xca:
        return num(4, (a) => view.getFloat32(a));
      case 0xcb:
        return num(8, (a) => view.getFloat64(a));
      case 0xcc:
        return num(1, (a) => view.getUint8(a));
      case 0xcd:
        return num(2, (a) => view.getUint16(a));
      case 0xce:
        return num(4, (a) => view.getUint32(a));
      case 0xcf:
        return num(8, (a) => Number(view.getBigUint64(a)));
      case 0xd0:
        return num(1, (a) => view.getInt8(a));
      case 0xd1:
        return num(2, (a) => view.getInt16(a));
      case 0xd2:
        return num(4, (a) => view.getInt32(a));
      case 0xd3:
        return num(8, (a) => Number(view.getBigInt64(a)));
      case 0xd9:
        return str(num(1, (a) => view.getUint8(a)));
      case 0xda:
        return str(num(2, (a) => view.getUint16(a)));
      case 0xdb:
        return str(num(4, (a) => view.getUint32(a)));
      case 0xdc:
        return array(
          num(2, (a) => view.getUint16(a)),
          depth,
        );
      case 0xdd:
        return array(
          num(4, (a) => view.getUint32(a)),
          depth,
        );
      case 0xde:
        return map(
          num(2, (a) => view.getUint16(a)),
          depth,
        );
      case 0xdf:
        return map(
          num(4, (a) => view.getUint32(a)),
          depth,
        );
      default:
        throw new NotPlain(`byte ${b}`);
    }
  };
  const array = (n: number, depth: number) => {
    if (n > 0 && depth >= maxDepth) throw new NotPlain('deep');
    if (n > bytes.length - pos) throw new NotPlain('count');
    count(n);
    const out: unknown[] = [];
    for (let i = 0; i < n; i++) out.push(value(depth + 1, false));
    return out;
  };
  const map = (n: number, depth: number) => {
    if (n > 0 && depth >= maxDepth) throw new NotPlain('deep');
    if (2 * n > bytes.length - pos) throw new NotPlain('count');
    count(2 * n);
    const out: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) {
      const k = value(depth + 1, true) as string;
      out[k === '__proto__' ? '__proto_' : k] = value(depth + 1, false);
    }
    return out;
  };
  const result = value(0, false);
  if (pos !== bytes.length) throw new NotPlain('trailing');
  return result;
}

function strictView(bytes: Uint8Array): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: strictDecode(bytes) };
  } catch (err) {
    if (err instanceof NotPlain) return { ok: false };
    throw err;
  }
}

function randomPlain(rng: Rng, depth: number): unknown {
  const kind = rng.int(depth >= MAX_NESTING_DEPTH - 1 ? 9 : 11);
  switch (kind) {
    case 0:
      return null;
    case 1:
      return rng.bool();
    case 2:
      return rng.range(-40, 200);
    case 3:
      return rng.pick([0xff, 0x100, 0xffff, 0x10000, 2 ** 32 - 1, 2 ** 32, -129, -32769, -(2 ** 31) - 1]);
    case 4:
      return rng.int(2 ** 52) * (rng.bool() ? 1 : -1);
    case 5:
      return rng.int(1e6) / 7;
    case 6:
      return rng.string(rng.pick([0, 1, 31, 32, 255, 256, rng.int(400)]));
    case 7:
      return rng.bytes(rng.pick([0, 1, 255, 256, rng.int(300)]));
    case 8:
      return rng.string(3, true);
    case 9:
      return Array.from({ length: rng.int(5) }, () => randomPlain(rng, depth + 1));
    default: {
      const out: Record<string, unknown> = {};
      for (let i = rng.int(5); i > 0; i--) out[rng.string(rng.int(6), true)] = randomPlain(rng, depth + 1);
      return out;
    }
  }
}

/** Every way of writing an extension: fixext 1/2/4/8/16 and ext 8/16/32, each with some type bytes. */
function extensionEncodings(): Buffer[] {
  const out: Buffer[] = [];
  for (const type of [0x00, 0x42, 0x62, 0x65, 0x69, 0x70, 0x72, 0x73, 0x74, 0x78, 0x7f, 0x80, 0xff]) {
    for (const [head, size] of [
      [0xd4, 1],
      [0xd5, 2],
      [0xd6, 4],
      [0xd7, 8],
      [0xd8, 16],
    ]) {
      out.push(Buffer.from([head, type, ...new Array(size).fill(0)]));
    }
    out.push(Buffer.from([0xc7, 3, type, 1, 2, 3]));
    out.push(Buffer.from([0xc8, 0, 3, type, 1, 2, 3]));
    out.push(Buffer.from([0xc9, 0, 0, 0, 3, type, 1, 2, 3]));
  }
  return out;
}

test('plain values written by msgpackr pass, and decode the same as the strict view', () => {
  const rng = new Rng(0x5afe);
  for (let i = 0; i < 2000; i++) {
    const value = { type: 'presence', data: randomPlain(rng, 2) };
    const bytes = plainPacker.pack(value);
    assert.equal(plainMessagePackProblem(bytes), undefined, `#${i}`);
    assert.deepEqual(msgpack.unpack(bytes), strictDecode(bytes), `#${i}`);
  }
});

test('differential: the scanner accepts exactly what the strict view accepts, on mutated and random bytes', () => {
  const rng = new Rng(0xd1ff);
  let accepted = 0;
  for (let i = 0; i < 20_000; i++) {
    let bytes: Buffer;
    if (i % 4 === 0) bytes = rng.bytes(rng.int(40));
    else {
      bytes = Buffer.from(plainPacker.pack({ type: 'presence', data: randomPlain(rng, 2) }));
      for (let m = rng.range(1, 3); m > 0; m--) {
        const at = rng.int(bytes.length);
        if (rng.bool(0.2)) bytes = bytes.subarray(0, at);
        else if (bytes.length > 0) bytes[at] = rng.int(256);
      }
    }
    const strict = strictView(bytes);
    const problem = plainMessagePackProblem(bytes);
    assert.equal(problem === undefined, strict.ok, `${bytes.toString('hex')}: scanner says ${problem}`);
    if (strict.ok) {
      accepted++;
      assert.deepEqual(msgpack.unpack(bytes), strict.value, bytes.toString('hex'));
    }
  }
  assert.ok(accepted > 1000, `only ${accepted} inputs were plain: the mutations test too little`);
});

test('every extension type is refused, alone and inside a map', () => {
  for (const ext of extensionEncodings()) {
    assert.match(plainMessagePackProblem(ext) ?? '', /extension/, ext.toString('hex'));
    const framed = Buffer.concat([Buffer.from([0x81, 0xa1, 0x64]), ext]);
    assert.match(plainMessagePackProblem(framed) ?? '', /extension/, framed.toString('hex'));
  }
  assert.match(plainMessagePackProblem(Buffer.from([0xc1])) ?? '', /0xc1/);
});

test('the attacks of issue 9 are refused frames (error 1001), not values', () => {
  const cyclic: unknown[] = [];
  cyclic.push(cyclic);
  // msgpackr itself cannot write it (its encoder runs out of stack): the bytes, by hand.
  const deep = Buffer.concat([
    plainPacker.pack({ type: 'presence', data: 0 }).subarray(0, -1),
    Buffer.alloc(3000, 0x91),
    Buffer.from([0x80]),
  ]);
  const attacks: Array<[string, Uint8Array]> = [
    [
      'self-containing array (structured clone 0x69/0x70)',
      clonePacker.pack({ type: 'presence', data: { a: cyclic } }),
    ],
    ['128-bit BigInt (ext 0x42)', typesPacker.pack({ type: 'presence', data: { b: 2n ** 127n } })],
    ['Float64Array (ext 0x74)', typesPacker.pack({ type: 'presence', data: { f: new Float64Array(4096) } })],
    ['Date (ext -1)', plainPacker.pack({ type: 'presence', data: { d: new Date() } })],
    ['Set (ext 0x73)', typesPacker.pack({ type: 'presence', data: { s: new Set([1]) } })],
    ['RegExp (ext 0x78)', typesPacker.pack({ type: 'presence', data: { r: /x/ } })],
    ['Error (ext 0x65)', typesPacker.pack({ type: 'presence', data: { e: new Error('x') } })],
    ['record definition (0xd4 0x72)', new Packr({ useRecords: true }).pack({ type: 'ping' })],
    ['3,000-deep arrays', deep],
    ['integer map key', Buffer.from([0x81, 0x01, 0x02])],
    ['array of 2^32-1 items in 6 bytes', Buffer.from([0x81, 0xa1, 0x61, 0xdd, 0xff, 0xff, 0xff, 0xff])],
    ['str of 2^32-1 bytes in 6 bytes', Buffer.from([0x81, 0xa1, 0x61, 0xdb, 0xff, 0xff, 0xff, 0xff])],
    ['trailing bytes', Buffer.from([0x80, 0x00])],
  ];
  for (const [name, bytes] of attacks) {
    assert.notEqual(plainMessagePackProblem(bytes), undefined, name);
    assert.equal(strictView(bytes).ok, false, `${name}: the strict view should refuse it too`);
    const result = decodeFrame(bytes);
    assert.ok(result instanceof FrameError, name);
    assert.equal(result.code, ErrorCode.InvalidFrame, name);
    assert.match(result.message, /^frame refused: /, name);
  }
});

test('nesting up to MAX_NESTING_DEPTH passes; one more level is refused', () => {
  const nested = (levels: number) => {
    let v: unknown = 1;
    for (let i = 1; i < levels; i++) v = [v];
    return plainPacker.pack({ data: v });
  };
  // The outer map is level 1, so `data` may nest MAX_NESTING_DEPTH - 1 arrays.
  assert.equal(plainMessagePackProblem(nested(MAX_NESTING_DEPTH)), undefined);
  assert.match(plainMessagePackProblem(nested(MAX_NESTING_DEPTH + 1)) ?? '', /nests deeper than 32/);
  // Deep empty containers and a lower cap.
  assert.match(plainMessagePackProblem(nested(5), 4) ?? '', /nests deeper than 4/);
});

test('a frame may hold MAX_FRAME_ITEMS items, not one more, however they are split', () => {
  const arrayOf = (n: number) =>
    Buffer.concat([
      Buffer.from([0xdd]),
      Buffer.from([n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]),
      Buffer.alloc(n),
    ]);
  const frame = (inner: Buffer) => Buffer.concat([Buffer.from([0x81, 0xa1, 0x78]), inner]);
  // The outer map's key and value are 2 items.
  assert.equal(plainMessagePackProblem(frame(arrayOf(MAX_FRAME_ITEMS - 2))), undefined);
  assert.match(plainMessagePackProblem(frame(arrayOf(MAX_FRAME_ITEMS - 1))) ?? '', /more than 65536 items/);
  const split = Buffer.concat([
    Buffer.from([0x92]),
    arrayOf(MAX_FRAME_ITEMS / 2),
    arrayOf(MAX_FRAME_ITEMS / 2),
  ]);
  assert.match(plainMessagePackProblem(frame(split)) ?? '', /more than 65536 items/);
  // A 16 MiB frame of one-byte items is refused at once, before anything is built from it.
  const huge = frame(arrayOf(16 * 1024 * 1024 - 16));
  const started = performance.now();
  assert.match(plainMessagePackProblem(huge) ?? '', /more than/);
  assert.ok(performance.now() - started < 1000);
});
