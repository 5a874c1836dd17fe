import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Packr } from 'msgpackr';
import { decodeFrame, FrameError } from '../src/native/decode.js';
import { encodeFrame, LENGTH_PREFIX_BYTES } from '../src/native/encode.js';
import { ErrorCode } from '../src/native/error-codes.js';
import { FrameReader } from '../src/native/frame-reader.js';
import { FRAME_TYPE_IDS, FRAME_TYPE_NAMES, type Frame } from '../src/native/frames.js';
import { MAX_NESTING_DEPTH } from '../src/native/plain-msgpack.js';
import { Rng } from './prng.js';
import { at } from './element.js';

const rawPacker = new Packr({ useRecords: false, variableMapSize: true });

const isId = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isPlainObject = (v: unknown) =>
  typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype;

/** The invariants of a frame returned by decodeFrame; returns why it is not valid, or undefined. */
function frameProblem(f: Frame): string | undefined {
  if (!FRAME_TYPE_NAMES.includes(f.type)) return `type ${String(f.type)}`;
  switch (f.type) {
    case 'subscribe':
      if (!isId(f.id) || typeof f.channel !== 'string') return 'subscribe id/channel';
      if (f.recover !== undefined && (!isId(f.recover.offset) || typeof f.recover.epoch !== 'string'))
        return 'subscribe recover';
      return undefined;
    case 'unsubscribe':
      return isId(f.id) && typeof f.channel === 'string' ? undefined : 'unsubscribe id/channel';
    case 'publish':
      if (f.id !== undefined && !isId(f.id)) return 'publish id';
      if (typeof f.channel !== 'string') return 'publish channel';
      if (f.event !== undefined && typeof f.event !== 'string') return 'publish event';
      return f.payload instanceof Uint8Array ? undefined : 'publish payload';
    case 'presence':
      if (f.id !== undefined && !isId(f.id)) return 'presence id';
      if (typeof f.channel !== 'string') return 'presence channel';
      if (![0, 1, 2, 3].includes(f.action)) return 'presence action';
      return f.data === undefined || isPlainObject(f.data) ? undefined : 'presence data';
    case 'ack':
      return isId(f.id) ? undefined : 'ack id';
    case 'error':
      return isId(f.id) && typeof f.code === 'number' && typeof f.message === 'string' ? undefined : 'error';
    case 'ping':
    case 'pong':
      return f.timestamp === undefined || typeof f.timestamp === 'number' ? undefined : 'timestamp';
    case 'connect':
      if (typeof f.version !== 'number') return 'connect version';
      return f.token === undefined || typeof f.token === 'string' ? undefined : 'connect token';
    case 'connected':
      return typeof f.connection_id === 'string' &&
        typeof f.version === 'number' &&
        typeof f.heartbeat === 'number'
        ? undefined
        : 'connected';
    case 'history':
      if (!isId(f.id) || typeof f.channel !== 'string') return 'history id/channel';
      if (f.since !== undefined && (!isId(f.since.offset) || typeof f.since.epoch !== 'string'))
        return 'history since';
      return f.limit === undefined || (Number.isInteger(f.limit) && f.limit >= 1 && f.limit <= 1000)
        ? undefined
        : 'history limit';
  }
}

const stats = { frames: 0, errors: 0 };

/** decodeFrame must not throw and must return a FrameError(1001) or a well-formed frame. */
function checkDecode(body: Uint8Array, context: string): Frame | FrameError {
  let result: Frame | FrameError;
  try {
    result = decodeFrame(body);
  } catch (err) {
    assert.fail(
      `${context}: decodeFrame threw ${String(err)} on ${Buffer.from(body.subarray(0, 64)).toString('hex')}`,
    );
  }
  if (result instanceof FrameError) {
    stats.errors++;
    assert.equal(result.code, ErrorCode.InvalidFrame, context);
    assert.ok(isId(result.id), `${context}: error id ${result.id}`);
    assert.equal(typeof result.message, 'string', context);
    assert.ok(
      result.message.length < 1024 * 1024,
      `${context}: error message of ${result.message.length} chars`,
    );
  } else {
    stats.frames++;
    assert.ok(result !== null && typeof result === 'object', context);
    const problem = frameProblem(result);
    assert.equal(problem, undefined, `${context}: invalid frame accepted (${problem})`);
  }
  return result;
}

const GOOD: Frame = { type: 'publish', id: 77, channel: 'sanity', event: 'e', payload: Buffer.from('ok') };
const GOOD_BODY = encodeFrame(GOOD).subarray(LENGTH_PREFIX_BYTES);

/** The shared decoder keeps working after a bad input (no corrupted internal state). */
function checkStillWorks(context: string): void {
  const fresh = Buffer.from(GOOD_BODY);
  const result = decodeFrame(fresh);
  assert.ok(!(result instanceof FrameError), `${context}: a valid frame no longer decodes`);
  assert.equal(result.type, 'publish');
  assert.equal(result.type === 'publish' && result.channel, 'sanity', context);
  assert.equal(result.type === 'publish' && Buffer.from(result.payload).toString(), 'ok', context);
  const reencoded = encodeFrame(GOOD);
  assert.ok(reencoded.subarray(LENGTH_PREFIX_BYTES).equals(GOOD_BODY), `${context}: encoder state corrupted`);
}

const SEEDS: Frame[] = [
  { type: 'subscribe', id: 1, channel: 'a/b', recover: { offset: 5, epoch: 'x' } },
  { type: 'unsubscribe', id: 2, channel: 'a/b' },
  { type: 'publish', id: 3, channel: 'a/b', event: 'ev', payload: Buffer.from('payload bytes') },
  { type: 'publish', channel: 'big', payload: Buffer.alloc(300, 0x5a) },
  { type: 'presence', id: 4, channel: 'room', action: 2, data: { name: 'n', list: [1, 2, { x: null }] } },
  { type: 'ack', id: 5, recovered: true },
  { type: 'error', id: 6, code: 1002, message: 'bad' },
  { type: 'ping', timestamp: 123456789 },
  { type: 'pong' },
  { type: 'connect', version: 1, token: 'tok' },
  { type: 'connected', connection_id: 'cid', version: 1, heartbeat: 30000 },
  { type: 'history', id: 7, channel: 'a/b', since: { offset: 3, epoch: 'x' }, limit: 10 },
];
const SEED_BODIES = SEEDS.map((f) => encodeFrame(f).subarray(LENGTH_PREFIX_BYTES));

const INTERESTING = [
  0x00, 0x01, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8,
  0xc9, 0xca, 0xcb, 0xcf, 0xd3, 0xd4, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff,
];

function mutate(rng: Rng, body: Buffer): Buffer {
  const b = Buffer.from(body);
  switch (rng.int(7)) {
    case 0: {
      // Bit flips.
      const flips = rng.range(1, 8);
      for (let i = 0; i < flips && b.length > 0; i++) {
        const flip = rng.int(b.length);
        b[flip] = at(b, flip) ^ (1 << rng.int(8));
      }
      return b;
    }
    case 1:
      return b.subarray(0, rng.int(b.length)); // truncation
    case 2:
      return Buffer.concat([b, rng.bytes(rng.range(1, 32))]); // extension
    case 3: {
      // Interesting bytes at random places.
      const n = rng.range(1, 4);
      for (let i = 0; i < n && b.length > 0; i++) b[rng.int(b.length)] = rng.pick(INTERESTING);
      return b;
    }
    case 4: {
      // Splice with another frame.
      const other = rng.pick(SEED_BODIES);
      return Buffer.concat([b.subarray(0, rng.int(b.length + 1)), other.subarray(rng.int(other.length + 1))]);
    }
    case 5: {
      // Insert a length header claiming a lot of data.
      const at = rng.int(b.length + 1);
      const header = rng.pick([
        [0xdb, 0xff, 0xff, 0xff, 0xff],
        [0xc6, 0x7f, 0xff, 0xff, 0xff],
        [0xdd, 0xff, 0xff, 0xff, 0xff],
        [0xdf, 0xff, 0xff, 0xff, 0xff],
        [0xda, 0xff, 0xff],
        [0xde, 0xff, 0xff],
        [0xc9, 0xff, 0xff, 0xff, 0xff, 0x01],
      ]);
      return Buffer.concat([b.subarray(0, at), Buffer.from(header), b.subarray(at)]);
    }
    default: {
      // Delete a range.
      const from = rng.int(b.length + 1);
      return Buffer.concat([b.subarray(0, from), b.subarray(from + rng.range(1, 8))]);
    }
  }
}

const FIELD_NAMES = [
  'type',
  'id',
  'channel',
  'payload',
  'event',
  'action',
  'data',
  'recover',
  'offset',
  'epoch',
  'code',
  'message',
  'timestamp',
  'version',
  'token',
  'connection_id',
  'heartbeat',
  'since',
  'limit',
  '__proto__',
  'constructor',
  'toString',
];

/** Sets an own property, also for `__proto__` (which plain assignment would turn into the prototype). */
function setKey(map: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(map, key, { value, enumerable: true, writable: true, configurable: true });
}

function randomValue(rng: Rng, depth: number): unknown {
  const kinds = depth > 0 ? 14 : 10;
  switch (rng.int(kinds)) {
    case 0:
      return null;
    case 1:
      return rng.bool();
    case 2:
      return rng.int(128); // positive fixint
    case 3:
      return -rng.range(1, 32); // negative fixint
    case 4:
      return rng.pick([
        255,
        256,
        65535,
        65536,
        2 ** 32 - 1,
        2 ** 32,
        2 ** 53 - 1,
        -129,
        -32769,
        -(2 ** 31) - 1,
      ]);
    case 5:
      return rng.pick([0.5, -1.25, Number.NaN, Number.POSITIVE_INFINITY, 1e300, -0, 3.0000001]);
    case 6:
      return rng.string(rng.bool(0.95) ? rng.int(40) : rng.int(70000));
    case 7:
      return rng.bytes(rng.bool(0.95) ? rng.int(40) : rng.int(70000));
    case 8:
      return rng.pick(FRAME_TYPE_NAMES);
    case 9:
      return new Date(rng.int(2 ** 31) * 1000); // a timestamp extension
    case 10:
    case 11: {
      const arr: unknown[] = [];
      const n = rng.int(6);
      for (let i = 0; i < n; i++) arr.push(randomValue(rng, depth - 1));
      return arr;
    }
    default: {
      const map: Record<string, unknown> = {};
      const n = rng.int(6);
      for (let i = 0; i < n; i++) {
        setKey(
          map,
          rng.bool(0.7) ? rng.pick(FIELD_NAMES) : rng.string(rng.int(8)),
          randomValue(rng, depth - 1),
        );
      }
      return map;
    }
  }
}

/** A map that looks like a frame: a real type and plausible (or not) field values. */
function randomFrameLike(rng: Rng): Record<string, unknown> {
  const name = rng.pick(FRAME_TYPE_NAMES);
  const map: Record<string, unknown> = {
    type: rng.bool(0.8) ? name : rng.bool() ? FRAME_TYPE_IDS[name] : randomValue(rng, 1),
  };
  const fieldCount = rng.int(8);
  for (let i = 0; i < fieldCount; i++) {
    const key = rng.pick(FIELD_NAMES);
    if (key === 'type') continue;
    const plausible: Record<string, () => unknown> = {
      id: () => rng.pick([0, 1, 2 ** 32, -1, 1.5, '1', null]),
      channel: () => rng.pick(['a', 'x/y/z', '', 5, null, Buffer.from('c')]),
      payload: () => rng.pick([Buffer.from('p'), 'str', 1, null, [1], {}]),
      action: () => rng.pick([0, 1, 2, 3, 4, -1, '1', null]),
      data: () => rng.pick([{ a: 1 }, [], 'd', Buffer.from('d'), null, new Date(0)]),
      limit: () => rng.pick([1, 100, 1000, 0, 1001, -1, 2.5, '5', null]),
      since: () => rng.pick([{ offset: 1, epoch: 'e' }, { offset: 'x', epoch: 'e' }, [], null]),
      recover: () =>
        rng.pick([{ offset: 1, epoch: 'e' }, { offset: -1, epoch: 'e' }, { offset: 1 }, 'r', null]),
    };
    const make = Object.hasOwn(plausible, key) ? plausible[key] : undefined;
    setKey(map, key, make !== undefined && rng.bool(0.7) ? make() : randomValue(rng, rng.int(4)));
  }
  return map;
}

test('fuzz: random byte strings', () => {
  const rng = new Rng(0xf00d);
  for (let i = 0; i < 4000; i++) {
    const len = rng.bool(0.9) ? rng.int(65) : rng.int(1025);
    const body = rng.bytes(len);
    // Bias half of the inputs towards starting like a map.
    if (len > 0 && rng.bool()) body[0] = rng.pick([0x80 | rng.int(16), 0xde, 0xdf]);
    checkDecode(body, `random #${i}`);
    if (i % 250 === 0) checkStillWorks(`random #${i}`);
  }
  checkStillWorks('after random bytes');
});

test('fuzz: mutated valid frames', () => {
  const rng = new Rng(0xbadc0de);
  let accepted = 0;
  for (let i = 0; i < 5000; i++) {
    let body = rng.pick(SEED_BODIES);
    const rounds = rng.range(1, 3);
    for (let r = 0; r < rounds; r++) body = mutate(rng, body);
    if (!(checkDecode(body, `mutation #${i}`) instanceof FrameError)) accepted++;
    if (i % 250 === 0) checkStillWorks(`mutation #${i}`);
  }
  // Sanity of the generator: some mutants stay valid frames, most do not.
  assert.ok(accepted > 50 && accepted < 4500, `accepted ${accepted}`);
  checkStillWorks('after mutations');
});

test('fuzz: random MessagePack values of every kind', () => {
  const rng = new Rng(0x5eed);
  let accepted = 0;
  for (let i = 0; i < 2500; i++) {
    const value = rng.bool(0.6) ? randomFrameLike(rng) : randomValue(rng, rng.int(6));
    const body = rawPacker.pack(value);
    if (!(checkDecode(body, `value #${i}`) instanceof FrameError)) accepted++;
    if (i % 250 === 0) checkStillWorks(`value #${i}`);
  }
  assert.ok(accepted > 20, `only ${accepted} frame-like values were accepted`);
  checkStillWorks('after random values');
});

function repeat(prefix: number[], times: number, tail: number[]): Buffer {
  const unit = Buffer.from(prefix);
  const out = Buffer.allocUnsafe(unit.length * times + tail.length);
  for (let i = 0; i < times; i++) unit.copy(out, i * unit.length);
  Buffer.from(tail).copy(out, unit.length * times);
  return out;
}

test('fuzz: deeply nested arrays and maps', () => {
  const typeKey = [0xa4, ...Buffer.from('type')];
  for (const depth of [10, 100, 1000, 10_000, 100_000]) {
    const started = performance.now();
    checkDecode(repeat([0x91], depth, [0xc0]), `array depth ${depth}`);
    checkDecode(repeat([0x81, 0xa1, 0x61], depth, [0xc0]), `map depth ${depth}`);
    // Nested without an end: truncated.
    checkDecode(repeat([0x91], depth, []), `open array depth ${depth}`);
    // A frame whose `type` is a deep array (stringified into the error message).
    const deepType = Buffer.concat([Buffer.from([0x81, ...typeKey]), repeat([0x91], depth, [0x01])]);
    const typeResult = checkDecode(deepType, `deep type ${depth}`);
    assert.ok(typeResult instanceof FrameError);
    // Presence data nested deeply: valid MessagePack, and a map.
    const presence = Buffer.concat([
      Buffer.from([0x85]),
      rawPacker.pack({ type: 'presence', id: 1, channel: 'c', action: 2 }).subarray(1),
      Buffer.from([0xa4, ...Buffer.from('data')]),
      repeat([0x81, 0xa1, 0x6b], depth, [0x80]),
    ]);
    const presenceResult = checkDecode(presence, `deep presence data ${depth}`);
    // The frame's map is level 1 and `data` level 2: deeper than MAX_NESTING_DEPTH in all is refused.
    if (depth + 2 <= MAX_NESTING_DEPTH) {
      assert.ok(!(presenceResult instanceof FrameError), `presence data of depth ${depth}`);
    } else assert.match((presenceResult as FrameError).message, /nests deeper than/);
    checkStillWorks(`after depth ${depth}`);
    assert.ok(performance.now() - started < 1000, `depth ${depth} took too long`);
  }
});

test('fuzz: huge declared lengths with short data fail fast without allocating', () => {
  const headers: Array<[string, number[]]> = [
    ['fixstr 31', [0xbf]],
    ['fixarray 15', [0x9f]],
    ['fixmap 15', [0x8f]],
    ['str8', [0xd9, 0xff]],
    ['str16', [0xda, 0xff, 0xff]],
    ['str32', [0xdb, 0xff, 0xff, 0xff, 0xff]],
    ['bin8', [0xc4, 0xff]],
    ['bin16', [0xc5, 0xff, 0xff]],
    ['bin32', [0xc6, 0xff, 0xff, 0xff, 0xff]],
    ['array16', [0xdc, 0xff, 0xff]],
    ['array32', [0xdd, 0xff, 0xff, 0xff, 0xff]],
    ['map16', [0xde, 0xff, 0xff]],
    ['map32', [0xdf, 0xff, 0xff, 0xff, 0xff]],
    ['ext8', [0xc7, 0xff, 0x01]],
    ['ext16', [0xc8, 0xff, 0xff, 0x01]],
    ['ext32', [0xc9, 0xff, 0xff, 0xff, 0xff, 0x01]],
    ['ext32 typed array', [0xc9, 0xff, 0xff, 0xff, 0xff, 0x74]],
  ];
  const memBefore = process.memoryUsage();
  const prefix = (map: Record<string, unknown>, key: string) =>
    Buffer.concat([
      Buffer.from([0x80 | (Object.keys(map).length + 1)]),
      rawPacker.pack(map).subarray(1),
      rawPacker.pack(key),
    ]);
  for (const [name, header] of headers) {
    const shortData = [0x01, 0x02, 0x03, 0x04];
    const inputs: Array<[string, Buffer]> = [
      ['top level', Buffer.from([...header, ...shortData])],
      [
        'as payload',
        Buffer.concat([
          prefix({ type: 'publish', channel: 'c' }, 'payload'),
          Buffer.from(header),
          Buffer.from(shortData),
        ]),
      ],
      ['as channel', Buffer.concat([prefix({ type: 'subscribe', id: 3 }, 'channel'), Buffer.from(header)])],
      [
        'as presence data',
        Buffer.concat([
          prefix({ type: 'presence', id: 3, channel: 'c', action: 0 }, 'data'),
          Buffer.from(header),
          Buffer.from(shortData),
        ]),
      ],
      ['nested 50 times', repeat(header, 50, shortData)],
    ];
    for (const [where, body] of inputs) {
      const started = performance.now();
      const result = checkDecode(body, `${name} ${where}`);
      assert.ok(result instanceof FrameError, `${name} ${where}: truncated data was accepted`);
      assert.ok(
        performance.now() - started < 100,
        `${name} ${where}: took ${performance.now() - started} ms`,
      );
    }
  }
  // The brief's example: 10 bytes claiming a 4 GiB bin.
  const started = performance.now();
  const tiny = Buffer.from([0xc6, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5]);
  assert.equal(tiny.length, 10);
  assert.ok(checkDecode(tiny, '10-byte 4 GiB bin') instanceof FrameError);
  assert.ok(performance.now() - started < 50);
  const memAfter = process.memoryUsage();
  const grown = memAfter.arrayBuffers - memBefore.arrayBuffers + (memAfter.heapUsed - memBefore.heapUsed);
  assert.ok(grown < 128 * 1024 * 1024, `memory grew by ${grown} bytes`);
  checkStillWorks('after huge lengths');
});

test('fuzz: many real elements under a huge array/map count stay bounded', () => {
  // 100k nils under an array32 claiming 4G elements, and 30k entries under a map32 claiming 4G.
  const arr = repeat([0xc0], 100_000, []);
  const mapEntries = repeat([0xa1, 0x6b, 0xc0], 30_000, []);
  const started = performance.now();
  assert.ok(
    checkDecode(Buffer.concat([Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff]), arr]), 'array') instanceof
      FrameError,
  );
  assert.ok(
    checkDecode(Buffer.concat([Buffer.from([0xdf, 0xff, 0xff, 0xff, 0xff]), mapEntries]), 'map') instanceof
      FrameError,
  );
  assert.ok(performance.now() - started < 1000);
  checkStillWorks('after big counts');
});

test('fuzz: FrameReader over random streams feeding decodeFrame', () => {
  const rng = new Rng(0xabcdef);
  const cap = 64 * 1024;
  let totalBodies = 0;
  for (let trial = 0; trial < 300; trial++) {
    const parts: Buffer[] = [];
    const n = rng.range(1, 12);
    for (let i = 0; i < n; i++) {
      switch (rng.int(4)) {
        case 0:
          parts.push(encodeFrame(rng.pick(SEEDS)));
          break;
        case 1: {
          const body = mutate(rng, rng.pick(SEED_BODIES));
          const prefix = Buffer.alloc(4);
          prefix.writeUInt32BE(body.length);
          parts.push(prefix, body);
          break;
        }
        case 2:
          parts.push(rng.bytes(rng.int(40)));
          break;
        default: {
          const prefix = Buffer.alloc(4);
          prefix.writeUInt32BE(rng.bool() ? rng.int(cap + 1) : rng.u32());
          parts.push(prefix);
        }
      }
    }
    const stream = Buffer.concat(parts);
    let failed = false;
    let afterFailure = 0;
    let bodies = 0;
    const reader = new FrameReader(
      {
        onFrameBody(body) {
          if (failed) afterFailure++;
          bodies++;
          assert.ok(body.length <= cap, 'body over the cap');
          checkDecode(body, `stream ${trial}`);
        },
        onFrameTooLarge(declared) {
          if (failed) afterFailure++;
          failed = true;
          assert.ok(declared > cap);
        },
      },
      cap,
    );
    for (const chunk of rng.split(stream, rng.pick([1, 5, 50, 5000]))) {
      assert.doesNotThrow(() => reader.push(Buffer.from(chunk)));
      assert.ok(reader.bufferedBytes < cap + LENGTH_PREFIX_BYTES, `buffered ${reader.bufferedBytes}`);
    }
    assert.equal(afterFailure, 0, `stream ${trial}: output after onFrameTooLarge`);
    totalBodies += bodies;
  }
  assert.ok(totalBodies > 150, `only ${totalBodies} bodies`);
  assert.ok(stats.frames > 0 && stats.errors > 0, 'both outcomes were exercised');
  checkStillWorks('after streams');
});
