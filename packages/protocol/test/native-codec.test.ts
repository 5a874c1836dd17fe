import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Packr, Unpackr } from 'msgpackr';
import { decodeFrame, FrameError } from '../src/native/decode.js';
import { encodeFrame, LENGTH_PREFIX_BYTES, MAX_FRAME_SIZE } from '../src/native/encode.js';
import { ERROR_CODE_NAMES, ErrorCode } from '../src/native/error-codes.js';
import { FRAME_TYPE_IDS, FRAME_TYPE_NAMES, type Frame, PROTOCOL_VERSION } from '../src/native/frames.js';
import { at } from './element.js';

/** Encodes arbitrary maps (also invalid frames) as plain MessagePack, independently of src/. */
const rawPacker = new Packr({ useRecords: false, variableMapSize: true });
const raw = (value: unknown): Buffer => rawPacker.pack(value);

/** Body of an encoded frame (without the length prefix). */
const bodyOf = (frame: Frame): Buffer => encodeFrame(frame).subarray(LENGTH_PREFIX_BYTES);

/** Drops keys whose value is undefined and turns byte arrays into Buffers, for deep comparison. */
function canon(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value);
  if (Array.isArray(value)) return value.map(canon);
  // A default Unpackr returns maps as Map objects.
  if (value instanceof Map) return canon(Object.fromEntries(value));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = canon(v);
    return out;
  }
  return value;
}

function decodeOk(body: Uint8Array): Frame {
  const result = decodeFrame(body);
  if (result instanceof FrameError) assert.fail(`unexpected FrameError ${result.code}: ${result.message}`);
  return result;
}

function decodeErr(body: Uint8Array, id = 0): FrameError {
  const result = decodeFrame(body);
  assert.ok(result instanceof FrameError, `expected a FrameError, got ${JSON.stringify(canon(result))}`);
  assert.equal(result.code, ErrorCode.InvalidFrame);
  assert.equal(result.id, id);
  assert.equal(typeof result.message, 'string');
  assert.ok(result.message.length > 0);
  return result;
}

const SAMPLES: Frame[] = [
  { type: 'subscribe', id: 1, channel: 'news/eu', recover: { offset: 42, epoch: 'e-17' } },
  { type: 'subscribe', id: 2, channel: 'sport/+/live' },
  { type: 'unsubscribe', id: 3, channel: 'news/eu' },
  { type: 'publish', id: 4, channel: 'chat/room-1', event: 'message', payload: Buffer.from('hello') },
  { type: 'publish', channel: 'chat/room-1', payload: new Uint8Array([0, 1, 2, 255]) },
  { type: 'publish', channel: 'empty', payload: new Uint8Array(0) },
  {
    type: 'presence',
    id: 5,
    channel: 'room',
    action: 2,
    data: { name: 'Ann', age: 31, tags: ['a', 'b'], nested: { deep: { x: true } } },
  },
  { type: 'presence', id: 6, channel: 'room', action: 3 },
  { type: 'ack', id: 7 },
  { type: 'ack', id: 8, recovered: true, note: 'extra fields are kept' },
  { type: 'error', id: 9, code: ErrorCode.InvalidChannel, message: 'bad channel' },
  { type: 'error', id: 0, code: ErrorCode.Unauthorized, message: '' },
  { type: 'ping', timestamp: 1_700_000_000_123 },
  { type: 'ping' },
  { type: 'pong', timestamp: 12 },
  { type: 'pong' },
  { type: 'connect', version: PROTOCOL_VERSION, token: 'jwt.token.value' },
  { type: 'connect', version: PROTOCOL_VERSION },
  { type: 'connected', connection_id: 'c-0001', version: PROTOCOL_VERSION, heartbeat: 30_000 },
  { type: 'history', id: 10, channel: 'chat:lobby', since: { offset: 7, epoch: 'e-17' }, limit: 50 },
  { type: 'history', id: 11, channel: 'chat:lobby' },
];

test('every frame type has a sample', () => {
  assert.deepEqual(new Set(SAMPLES.map((f) => f.type)), new Set(FRAME_TYPE_NAMES));
  assert.equal(FRAME_TYPE_NAMES.length, 11);
  FRAME_TYPE_NAMES.forEach((name, i) => {
    assert.equal(FRAME_TYPE_IDS[name], i + 1);
  });
});

test('all eleven frame types round trip with string types', () => {
  for (const frame of SAMPLES) {
    const encoded = encodeFrame(frame);
    assert.equal(encoded.readUInt32BE(0), encoded.length - LENGTH_PREFIX_BYTES);
    const decoded = decodeOk(encoded.subarray(LENGTH_PREFIX_BYTES));
    assert.deepEqual(canon(decoded), canon(frame), `round trip of ${frame.type}`);
    // Re-encoding the decoded frame gives the same bytes.
    assert.ok(encodeFrame(decoded).equals(encoded), `re-encoding of ${frame.type}`);
  }
});

test('numeric type ids 1..11 decode to the same frames as the string names', () => {
  for (const frame of SAMPLES) {
    const numeric = raw({ ...(canon(frame) as Record<string, unknown>), type: FRAME_TYPE_IDS[frame.type] });
    const decoded = decodeOk(numeric);
    assert.equal(decoded.type, frame.type);
    assert.deepEqual(canon(decoded), canon(decodeOk(bodyOf(frame))));
  }
});

test('numeric type ids encoded as other integer widths still decode', () => {
  // 3 as uint8 (0xcc 03) and as float64 (exactly 3.0) are both the number 3.
  const asUint8 = Buffer.from([0x81, 0xa4, ...Buffer.from('type'), 0xcc, 0x07]);
  assert.equal(decodeOk(asUint8).type, 'ping');
  const asFloat = Buffer.alloc(1 + 5 + 9);
  asFloat[0] = 0x81;
  asFloat[1] = 0xa4;
  asFloat.write('type', 2);
  asFloat[6] = 0xcb;
  asFloat.writeDoubleBE(8, 7);
  assert.equal(decodeOk(asFloat).type, 'pong');
});

test('unknown extra keys are ignored', () => {
  const extras = { zzz: 1, nested: { a: [1, 2, 3] }, blob: Buffer.from([9]), nil: null };
  for (const frame of SAMPLES) {
    if (frame.type === 'ack') continue; // ack keeps its extra fields by design (e.g. `recovered`)
    const decoded = decodeOk(raw({ ...extras, ...frame }));
    assert.deepEqual(canon(decoded), canon(frame), `extras on ${frame.type}`);
    for (const key of Object.keys(extras)) assert.ok(!(key in decoded), `${key} leaked into ${frame.type}`);
  }
});

test('ack keeps extra fields and its id', () => {
  const decoded = decodeOk(raw({ type: 'ack', id: 11, recovered: false, extra: [1, 'x'] }));
  assert.deepEqual(canon(decoded), { type: 'ack', id: 11, recovered: false, extra: [1, 'x'] });
});

test('string payloads are accepted as UTF-8 bytes', () => {
  const decoded = decodeOk(raw({ type: 'publish', id: 1, channel: 'c', payload: 'héllo €' }));
  assert.equal(decoded.type, 'publish');
  if (decoded.type !== 'publish') return;
  assert.ok(decoded.payload instanceof Uint8Array);
  assert.deepEqual(Buffer.from(decoded.payload), Buffer.from('héllo €', 'utf8'));
});

test('large safe integer ids round trip; unsafe ones are refused', () => {
  const id = Number.MAX_SAFE_INTEGER;
  const decoded = decodeOk(bodyOf({ type: 'unsubscribe', id, channel: 'c' }));
  assert.equal(decoded.type === 'unsubscribe' && decoded.id, id);
  // uint64 2^53 + 2 is not a safe integer.
  const body = Buffer.concat([
    Buffer.from([0x83, 0xa4, ...Buffer.from('type'), 0xab, ...Buffer.from('unsubscribe')]),
    Buffer.from([0xa7, ...Buffer.from('channel'), 0xa1, 0x63]),
    Buffer.from([0xa2, ...Buffer.from('id'), 0xcf]),
    (() => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64BE(2n ** 53n + 2n);
      return b;
    })(),
  ]);
  decodeErr(body, 0);
});

test('decodeFrame error paths return FrameError 1001 with the request id when known', () => {
  const cases: Array<[string, unknown, number]> = [
    // [description, map, expected id]
    ['subscribe without id', { type: 'subscribe', channel: 'c' }, 0],
    ['subscribe with negative id', { type: 'subscribe', id: -1, channel: 'c' }, 0],
    ['subscribe with fractional id', { type: 'subscribe', id: 1.5, channel: 'c' }, 0],
    ['subscribe with string id', { type: 'subscribe', id: '7', channel: 'c' }, 0],
    ['subscribe with null id', { type: 'subscribe', id: null, channel: 'c' }, 0],
    ['subscribe without channel', { type: 'subscribe', id: 7 }, 7],
    ['subscribe with numeric channel', { type: 'subscribe', id: 7, channel: 12 }, 7],
    ['subscribe with binary channel', { type: 'subscribe', id: 7, channel: Buffer.from('c') }, 7],
    ['subscribe with bad recover', { type: 'subscribe', id: 8, channel: 'c', recover: 'x' }, 8],
    [
      'subscribe recover without epoch',
      { type: 'subscribe', id: 8, channel: 'c', recover: { offset: 1 } },
      8,
    ],
    [
      'subscribe recover with negative offset',
      { type: 'subscribe', id: 8, channel: 'c', recover: { offset: -1, epoch: 'e' } },
      8,
    ],
    ['subscribe recover as array', { type: 'subscribe', id: 8, channel: 'c', recover: [1, 'e'] }, 8],
    ['unsubscribe without id', { type: 'unsubscribe', channel: 'c' }, 0],
    ['history without id', { type: 'history', channel: 'c' }, 0],
    ['history without channel', { type: 'history', id: 9 }, 9],
    [
      'history with bad since',
      { type: 'history', id: 9, channel: 'c', since: { offset: 'x', epoch: 'e' } },
      9,
    ],
    ['history with limit 0', { type: 'history', id: 9, channel: 'c', limit: 0 }, 9],
    ['history with limit 1001', { type: 'history', id: 9, channel: 'c', limit: 1001 }, 9],
    ['history with fractional limit', { type: 'history', id: 9, channel: 'c', limit: 1.5 }, 9],
    ['history with string limit', { type: 'history', id: 9, channel: 'c', limit: '5' }, 9],
    ['unsubscribe with array channel', { type: 'unsubscribe', id: 9, channel: ['c'] }, 9],
    ['publish with negative id', { type: 'publish', id: -5, channel: 'c', payload: Buffer.alloc(1) }, 0],
    ['publish with fractional id', { type: 'publish', id: 0.5, channel: 'c', payload: Buffer.alloc(1) }, 0],
    ['publish without channel', { type: 'publish', id: 10, payload: Buffer.alloc(1) }, 10],
    ['publish without channel and id', { type: 'publish', payload: Buffer.alloc(1) }, 0],
    ['publish with map channel', { type: 'publish', id: 10, channel: {}, payload: Buffer.alloc(1) }, 10],
    ['publish with numeric payload', { type: 'publish', id: 11, channel: 'c', payload: 5 }, 11],
    ['publish with boolean payload', { type: 'publish', id: 11, channel: 'c', payload: true }, 11],
    ['publish with array payload', { type: 'publish', id: 11, channel: 'c', payload: [1, 2] }, 11],
    ['publish with map payload', { type: 'publish', id: 11, channel: 'c', payload: { a: 1 } }, 11],
    ['publish with numeric event', { type: 'publish', id: 12, channel: 'c', event: 3, payload: 'x' }, 12],
    ['presence without channel', { type: 'presence', id: 13, action: 0 }, 13],
    ['presence with action 4', { type: 'presence', id: 13, channel: 'c', action: 4 }, 13],
    ['presence with action -1', { type: 'presence', id: 13, channel: 'c', action: -1 }, 13],
    ['presence with string action', { type: 'presence', id: 13, channel: 'c', action: '0' }, 13],
    ['presence without action', { type: 'presence', id: 13, channel: 'c' }, 13],
    ['presence with fractional action', { type: 'presence', id: 13, channel: 'c', action: 1.5 }, 13],
    ['presence with array data', { type: 'presence', id: 14, channel: 'c', action: 2, data: [1] }, 14],
    ['presence with string data', { type: 'presence', id: 14, channel: 'c', action: 2, data: 's' }, 14],
    ['presence with numeric data', { type: 'presence', id: 14, channel: 'c', action: 2, data: 1 }, 14],
    ['presence with boolean data', { type: 'presence', id: 14, channel: 'c', action: 2, data: false }, 14],
    [
      'presence with binary data',
      { type: 'presence', id: 14, channel: 'c', action: 2, data: Buffer.from([0x80]) },
      14,
    ],
    [
      // An extension type refuses the whole frame before it is decoded: its id is not read.
      'presence with timestamp data',
      { type: 'presence', id: 14, channel: 'c', action: 2, data: new Date(0) },
      0,
    ],
    ['ack without id', { type: 'ack' }, 0],
    ['ack with negative id', { type: 'ack', id: -3 }, 0],
    ['error without code', { type: 'error', id: 15, message: 'm' }, 15],
    ['error without message', { type: 'error', id: 15, code: 1000 }, 15],
    ['error with string code', { type: 'error', id: 15, code: '1000', message: 'm' }, 15],
    ['connect without version', { type: 'connect', token: 't' }, 0],
    ['connect with string version', { type: 'connect', version: '1' }, 0],
    ['connect with numeric token', { type: 'connect', version: 1, token: 5 }, 0],
    ['connected without connection_id', { type: 'connected', version: 1, heartbeat: 1 }, 0],
    ['connected without version', { type: 'connected', connection_id: 'x', heartbeat: 1 }, 0],
    ['unknown type name', { type: 'subscribed', id: 16 }, 0],
    ['type name with different case', { type: 'Publish', channel: 'c', payload: 'x' }, 0],
    ['inherited property as type', { type: 'toString' }, 0],
    ['inherited property as type (2)', { type: '__proto__' }, 0],
    ['type id 0', { type: 0, id: 1 }, 0],
    ['type id 12', { type: 12, id: 1 }, 0],
    ['type id -1', { type: -1, id: 1 }, 0],
    ['fractional type id', { type: 3.5, channel: 'c', payload: 'x' }, 0],
    ['missing type', { id: 1, channel: 'c' }, 0],
    ['null type', { type: null }, 0],
    ['array type', { type: ['publish'] }, 0],
    ['empty map', {}, 0],
  ];
  for (const [description, map, id] of cases) {
    const result = decodeFrame(raw(map));
    assert.ok(result instanceof FrameError, `${description}: expected a FrameError`);
    assert.equal(result.code, ErrorCode.InvalidFrame, description);
    assert.equal(result.id, id, `${description}: id`);
    assert.ok(result.message.length > 0, description);
  }
});

test('values that are not maps are refused', () => {
  for (const value of [[1, 2], 'publish', 3, -1, 1.5, null, true, false, Buffer.from([1, 2]), []]) {
    const err = decodeErr(raw(value));
    assert.match(err.message, /map/);
  }
});

test('an empty body is refused', () => {
  decodeErr(new Uint8Array(0));
  decodeErr(Buffer.alloc(0));
});

test('garbage bytes are refused', () => {
  const garbage = [
    [0xc1], // never used
    [0x82, 0xa4, 0x74, 0x79, 0x70, 0x65], // map of 2, truncated after the first key
    [0xa4, 0x74], // truncated string
    [0xdf, 0xff, 0xff, 0xff, 0xff], // map32 claiming 4G entries
    [0xc6, 0xff, 0xff, 0xff, 0xff, 1, 2, 3], // bin32 claiming 4 GiB
    [0x81, 0xa4, 0x74, 0x79, 0x70, 0x65], // map of 1 with its value missing
    [0xff, 0xff, 0xff, 0xff],
  ];
  for (const bytes of garbage) decodeErr(Buffer.from(bytes));
});

test('decodeFrame accepts any Uint8Array view (offset into a larger buffer)', () => {
  const body = bodyOf(at(SAMPLES, 3));
  const big = Buffer.alloc(body.length + 20, 0xc1);
  body.copy(big, 7);
  const view = new Uint8Array(big.buffer, big.byteOffset + 7, body.length);
  assert.deepEqual(canon(decodeOk(view)), canon(SAMPLES[3]));
});

// ---------------------------------------------------------------------------------------------
// The encoded bytes are plain MessagePack that any decoder reads.

interface ScanStats {
  extTypes: number;
  mapHeaders: Array<{ byte: number; size: number }>;
}

/** A strict MessagePack walker written from the spec: returns the position after one value. */
function scanValue(b: Buffer, pos: number, st: ScanStats): number {
  const need = (n: number) => {
    if (pos + n > b.length) throw new Error(`truncated at ${pos}`);
  };
  need(1);
  const t = at(b, pos++);
  const entries = (count: number) => {
    for (let i = 0; i < count; i++) pos = scanValue(b, pos, st);
    return pos;
  };
  const skip = (n: number) => {
    need(n);
    return pos + n;
  };
  if (t <= 0x7f || t >= 0xe0) return pos;
  if (t <= 0x8f) {
    st.mapHeaders.push({ byte: t, size: t & 0x0f });
    return entries((t & 0x0f) * 2);
  }
  if (t <= 0x9f) return entries(t & 0x0f);
  if (t <= 0xbf) return skip(t & 0x1f);
  switch (t) {
    case 0xc0:
    case 0xc2:
    case 0xc3:
      return pos;
    case 0xc4:
      need(1);
      return skip(at(b, pos++));
    case 0xc5:
      need(2);
      pos += 2;
      return skip(b.readUInt16BE(pos - 2));
    case 0xc6:
      need(4);
      pos += 4;
      return skip(b.readUInt32BE(pos - 4));
    case 0xc7:
    case 0xc8:
    case 0xc9: {
      st.extTypes++;
      const w = t === 0xc7 ? 1 : t === 0xc8 ? 2 : 4;
      need(w + 1);
      const len = b.readUIntBE(pos, w);
      pos += w + 1;
      return skip(len);
    }
    case 0xca:
      return skip(4);
    case 0xcb:
      return skip(8);
    case 0xcc:
    case 0xd0:
      return skip(1);
    case 0xcd:
    case 0xd1:
      return skip(2);
    case 0xce:
    case 0xd2:
      return skip(4);
    case 0xcf:
    case 0xd3:
      return skip(8);
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
      st.extTypes++;
      return skip(1 + 2 ** (t - 0xd4));
    case 0xd9:
      need(1);
      return skip(at(b, pos++));
    case 0xda:
      need(2);
      pos += 2;
      return skip(b.readUInt16BE(pos - 2));
    case 0xdb:
      need(4);
      pos += 4;
      return skip(b.readUInt32BE(pos - 4));
    case 0xdc:
      need(2);
      pos += 2;
      return entries(b.readUInt16BE(pos - 2));
    case 0xdd:
      need(4);
      pos += 4;
      return entries(b.readUInt32BE(pos - 4));
    case 0xde: {
      need(2);
      const size = b.readUInt16BE(pos);
      st.mapHeaders.push({ byte: t, size });
      pos += 2;
      return entries(size * 2);
    }
    case 0xdf: {
      need(4);
      const size = b.readUInt32BE(pos);
      st.mapHeaders.push({ byte: t, size });
      pos += 4;
      return entries(size * 2);
    }
    default:
      throw new Error(`invalid type byte 0x${t.toString(16)}`);
  }
}

function scan(body: Buffer): ScanStats {
  const st: ScanStats = { extTypes: 0, mapHeaders: [] };
  const end = scanValue(body, 0, st);
  assert.equal(end, body.length, 'exactly one MessagePack value per body');
  return st;
}

test('encoded frames are plain MessagePack read by a default Unpackr', () => {
  const plain = new Unpackr();
  for (const frame of SAMPLES) {
    const body = bodyOf(frame);
    const value = plain.unpack(body);
    assert.deepEqual(canon(value), canon(frame), `plain decoding of ${frame.type}`);
    assert.equal(scan(body).extTypes, 0, `no extension types in ${frame.type}`);
  }
});

test('undefined optional fields are omitted, not written as an extension', () => {
  const frames: Frame[] = [
    { type: 'publish', id: undefined, channel: 'c', event: undefined, payload: Buffer.from('x') },
    { type: 'subscribe', id: 1, channel: 'c', recover: undefined },
    { type: 'presence', id: undefined, channel: 'c', action: 0, data: undefined },
    { type: 'ping', timestamp: undefined },
    { type: 'connect', version: 1, token: undefined },
  ];
  for (const frame of frames) {
    const body = bodyOf(frame);
    const st = scan(body);
    assert.equal(st.extTypes, 0, `${frame.type} has an extension type`);
    const definedKeys = Object.values(frame).filter((v) => v !== undefined).length;
    assert.equal(at(st.mapHeaders, 0).size, definedKeys, `${frame.type}: undefined keys must be left out`);
    const value = canon(new Unpackr().unpack(body)) as Record<string, unknown>;
    assert.deepEqual(Object.keys(value).sort(), Object.keys(canon(frame) as object).sort());
    // A decoded frame (whose absent fields are undefined) re-encodes identically.
    assert.ok(bodyOf(decodeOk(body)).equals(body), `${frame.type} re-encodes identically`);
  }
});

test('payload bytes are written as MessagePack bin, whatever the Uint8Array flavour', () => {
  const bytes = [1, 2, 3, 250];
  for (const payload of [
    new Uint8Array(bytes),
    Buffer.from(bytes),
    new Uint8Array(new Uint8Array([9, ...bytes]).buffer, 1),
  ]) {
    const body = bodyOf({ type: 'publish', channel: 'c', payload });
    assert.equal(scan(body).extTypes, 0);
    const binHeader = body.indexOf(Buffer.from([0xc4, 4, 1, 2, 3, 250]));
    assert.ok(binHeader > 0, 'payload encoded as bin8');
  }
  // Sizes that need bin16 and bin32 headers.
  for (const [size, header] of [
    [256, 0xc5],
    [65536, 0xc6],
  ] as const) {
    const body = bodyOf({ type: 'publish', channel: 'c', payload: Buffer.alloc(size, 7) });
    assert.equal(scan(body).extTypes, 0);
    const headerAt = body.length - size - (header === 0xc5 ? 3 : 5);
    assert.equal(body[headerAt], header);
  }
});

test('small maps use fixmap headers', () => {
  for (const frame of SAMPLES) {
    const body = bodyOf(frame);
    const st = scan(body);
    assert.ok(st.mapHeaders.length > 0);
    for (const h of st.mapHeaders) {
      if (h.size <= 15) assert.equal(h.byte, 0x80 | h.size, `${frame.type}: map of ${h.size} without fixmap`);
    }
    const definedKeys = Object.values(frame).filter((v) => v !== undefined).length;
    assert.equal(body[0], 0x80 | definedKeys, `${frame.type}: top-level header`);
  }
  // A map with more than 15 entries needs map16.
  const data: Record<string, number> = {};
  for (let i = 0; i < 20; i++) data[`k${i}`] = i;
  const body = bodyOf({ type: 'presence', id: 1, channel: 'c', action: 2, data });
  const st = scan(body);
  assert.ok(st.mapHeaders.some((h) => h.byte === 0xde && h.size === 20));
});

test('the length prefix is a u32 big-endian body length, after `headroom` free bytes', () => {
  for (const frame of SAMPLES) {
    const plain = encodeFrame(frame);
    for (const headroom of [0, 1, 2, 10, 14]) {
      const withRoom = encodeFrame(frame, headroom);
      assert.equal(withRoom.length, plain.length + headroom);
      assert.equal(withRoom.readUInt32BE(headroom), plain.length - LENGTH_PREFIX_BYTES);
      assert.ok(withRoom.subarray(headroom).equals(plain));
    }
  }
  assert.equal(encodeFrame({ type: 'ping' }).readUInt32BE(0), bodyOf({ type: 'ping' }).length);
});

test('encoded frames own their bytes (no aliasing of the encoder slab)', () => {
  const first = encodeFrame(at(SAMPLES, 3));
  const copy = Buffer.from(first);
  for (let i = 0; i < 200; i++) {
    encodeFrame({ type: 'publish', channel: `x${i}`, payload: Buffer.alloc(i * 50, i) });
  }
  assert.ok(first.equals(copy), 'an earlier frame was overwritten');
  const a = encodeFrame({ type: 'ping', timestamp: 1 });
  const b = encodeFrame({ type: 'ping', timestamp: 2 });
  assert.equal(decodeOk(a.subarray(4)).type, 'ping');
  assert.ok(!a.equals(b));
  assert.deepEqual(canon(decodeOk(a.subarray(4))), { type: 'ping', timestamp: 1 });
});

test('decoded payloads are not corrupted by later encodes or decodes', () => {
  const body = bodyOf({ type: 'publish', channel: 'c', payload: Buffer.from('stable payload') });
  const decoded = decodeOk(body);
  for (let i = 0; i < 50; i++) {
    decodeFrame(bodyOf({ type: 'publish', channel: 'd', payload: Buffer.alloc(100, i) }));
  }
  assert.equal(decoded.type === 'publish' && Buffer.from(decoded.payload).toString(), 'stable payload');
});

test('error codes and constants match docs/PROTOCOL.md', () => {
  assert.deepEqual(ErrorCode, {
    UnknownError: 1000,
    InvalidFrame: 1001,
    InvalidChannel: 1002,
    Unauthorized: 1003,
    Forbidden: 1004,
    ChannelNotFound: 1005,
    RateLimited: 1006,
    PayloadTooLarge: 1007,
    NotSubscribed: 1008,
    AlreadySubscribed: 1009,
    ConnectionClosed: 1010,
    ServerError: 1011,
    ProtocolMismatch: 1012,
  });
  assert.equal(ERROR_CODE_NAMES[1001], 'InvalidFrame');
  assert.equal(ERROR_CODE_NAMES[1012], 'ProtocolMismatch');
  assert.equal(MAX_FRAME_SIZE, 16 * 1024 * 1024);
  assert.equal(LENGTH_PREFIX_BYTES, 4);
  assert.equal(PROTOCOL_VERSION, 1);
});
