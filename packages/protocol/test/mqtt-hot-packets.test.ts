import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import type { Packet } from 'mqtt-packet';
import { MqttDecoder, MqttPacketError } from '../src/mqtt/codec.js';
import { decodeHotPacket } from '../src/mqtt/hot-packets.js';
import { Rng } from './prng.js';
import { at } from './element.js';

// Differential tests of the fast path (decodeHotPacket) against mqtt-packet's parser.

const require = createRequire(import.meta.url);
const mqttPacket = require('mqtt-packet') as typeof import('mqtt-packet');
const constants = require('mqtt-packet/constants.js') as {
  MQTT5_PUBACK_PUBREC_CODES: Record<number, string>;
  MQTT5_PUBREL_PUBCOMP_CODES: Record<number, string>;
};

type Version = 3 | 4 | 5;
const VERSIONS: readonly Version[] = [3, 4, 5];

interface LibraryResult {
  packets: Packet[];
  errors: Error[];
  /** Bytes left in the parser's buffer list. */
  left: number;
}

/** What a fresh mqtt-packet parser, reading in `version`, makes of `bytes`. */
function libraryParse(bytes: Buffer, version: Version): LibraryResult {
  const parser = mqttPacket.parser({ protocolVersion: version });
  const result: LibraryResult = { packets: [], errors: [], left: 0 };
  parser.on('packet', (p) => result.packets.push(p));
  parser.on('error', (e: Error) => result.errors.push(e));
  try {
    result.left = parser.parse(bytes);
  } catch (err) {
    result.errors.push(err as Error);
  }
  return result;
}

/** A fixed header with `remaining` bytes; sometimes in a longer than needed (still valid) form. */
function fixedHeader(first: number, remaining: number, rng?: Rng): Buffer {
  const digits: number[] = [];
  let value = remaining;
  do {
    digits.push(value % 128);
    value = Math.floor(value / 128);
  } while (value > 0);
  if (rng?.bool(0.05)) while (digits.length < 4 && rng.bool(0.7)) digits.push(0);
  return Buffer.from([first, ...digits.map((d, i) => (i < digits.length - 1 ? d | 0x80 : d))]);
}

function packet(first: number, body: Buffer, rng?: Rng): Buffer {
  return Buffer.concat([fixedHeader(first, body.length, rng), body]);
}

function u16(n: number): Buffer {
  const b = Buffer.allocUnsafe(2);
  b.writeUInt16BE(n);
  return b;
}

/** Topic bytes: ASCII, multibyte UTF-8, ill-formed UTF-8, U+0000, empty, or long. */
function topicBytes(rng: Rng): Buffer {
  switch (rng.int(8)) {
    case 0:
      return Buffer.alloc(0);
    case 1:
    case 2:
      return Buffer.from(rng.string(rng.range(1, 60), true));
    case 3:
    case 4:
      return Buffer.from(rng.string(rng.range(1, 40)));
    case 5: {
      // Well-formed UTF-8 with ill-formed pieces spliced in: lone continuation bytes, overlong
      // forms, encoded surrogates, truncated sequences, bytes that never occur in UTF-8.
      const bad = [
        [0x80],
        [0xbf],
        [0xc0, 0xaf],
        [0xe0, 0x80, 0xaf],
        [0xed, 0xa0, 0x80],
        [0xe2, 0x82],
        [0xf0, 0x9f, 0x98],
        [0xff],
        [0xfe],
        [0xf4, 0x90, 0x80, 0x80],
      ];
      const parts: Buffer[] = [];
      for (let i = rng.range(1, 5); i > 0; i--) {
        parts.push(Buffer.from(rng.string(rng.range(0, 6))));
        parts.push(Buffer.from(rng.pick(bad)));
      }
      return Buffer.concat(parts);
    }
    case 6:
      return rng.bytes(rng.range(1, 50));
    default:
      return rng.bool(0.5)
        ? Buffer.from(`a/\u0000/${rng.string(rng.range(0, 10))}`)
        : Buffer.from(rng.string(rng.range(200, 3000)));
  }
}

function payloadSize(rng: Rng): number {
  const r = rng.int(100);
  if (r < 5) return 0;
  if (r < 70) return rng.range(1, 300);
  if (r < 92) return rng.range(300, 8000);
  return rng.range(8000, 70_000);
}

interface Case {
  bytes: Buffer;
  version: Version;
  what: string;
}

function randomPublish(rng: Rng, version: Version, maxPayload = Number.POSITIVE_INFINITY): Case {
  const qos = rng.int(3);
  const dup = rng.bool(0.2);
  const retain = rng.bool(0.2);
  const topic = topicBytes(rng);
  const parts = [u16(topic.length), topic];
  if (qos > 0) parts.push(u16(rng.bool(0.02) ? 0 : rng.range(1, 65535)));
  if (version === 5) parts.push(Buffer.from([0]));
  parts.push(rng.bytes(Math.min(payloadSize(rng), maxPayload)));
  const first = 0x30 | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 1 : 0);
  return { bytes: packet(first, Buffer.concat(parts), rng), version, what: `publish v${version} qos ${qos}` };
}

const ACKS = [
  { first: 0x40, cmd: 'puback', codes: constants.MQTT5_PUBACK_PUBREC_CODES },
  { first: 0x50, cmd: 'pubrec', codes: constants.MQTT5_PUBACK_PUBREC_CODES },
  { first: 0x62, cmd: 'pubrel', codes: constants.MQTT5_PUBREL_PUBCOMP_CODES },
  { first: 0x70, cmd: 'pubcomp', codes: constants.MQTT5_PUBREL_PUBCOMP_CODES },
] as const;

function randomAck(rng: Rng, version: Version): Case {
  const ack = rng.pick(ACKS);
  const parts = [u16(rng.int(65536))];
  if (version === 5 && rng.bool()) parts.push(Buffer.from([Number(rng.pick(Object.keys(ack.codes)))]));
  return { bytes: packet(ack.first, Buffer.concat(parts), rng), version, what: `${ack.cmd} v${version}` };
}

/** Packets as mqtt-packet's own generator writes them (those the fast path reads). */
function generatedPacket(rng: Rng, version: Version): Case {
  const qos = rng.int(3) as 0 | 1 | 2;
  const p: Packet = rng.bool(0.7)
    ? {
        cmd: 'publish',
        topic: rng.string(rng.range(0, 30)),
        payload: rng.bytes(payloadSize(rng)),
        qos,
        dup: rng.bool(0.2),
        retain: rng.bool(0.2),
        ...(qos > 0 ? { messageId: rng.range(1, 65535) } : {}),
      }
    : rng.bool(0.8)
      ? { cmd: rng.pick(['puback', 'pubrec', 'pubrel', 'pubcomp'] as const), messageId: rng.range(1, 65535) }
      : { cmd: 'pingreq' };
  const bytes = mqttPacket.generate(p, { protocolVersion: version });
  // v5 acknowledgements come out with a reason code and an empty property list (Remaining
  // Length 4), a form the fast path reads too.
  return { bytes, version, what: `generated ${p.cmd} v${version}` };
}

function randomValid(rng: Rng, version: Version, maxPayload?: number): Case {
  const r = rng.int(10);
  if (r < 5) return randomPublish(rng, version, maxPayload);
  if (r < 8) return randomAck(rng, version);
  if (r < 9) return generatedPacket(rng, version);
  return { bytes: packet(0xc0, Buffer.alloc(0), rng), version, what: `pingreq v${version}` };
}

/** A valid packet damaged in one of several ways, or garbage. */
function mutated(rng: Rng): Case {
  const version = rng.pick(VERSIONS);
  const base = randomValid(rng, version, 2000);
  const b = Buffer.from(base.bytes);
  switch (rng.int(10)) {
    case 0: {
      const i = rng.int(Math.min(b.length, 8));
      b[i] = at(b, i) ^ (1 << rng.int(8));
      return { ...base, bytes: b, what: `${base.what}, bit flipped at ${i}` };
    }
    case 1: {
      const i = rng.int(b.length);
      b[i] = rng.int(256);
      return { ...base, bytes: b, what: `${base.what}, byte ${i} replaced` };
    }
    case 2:
      return { ...base, bytes: b.subarray(0, rng.int(b.length)), what: `${base.what}, truncated` };
    case 3:
      return {
        ...base,
        bytes: Buffer.concat([b, rng.bytes(rng.range(1, 4))]),
        what: `${base.what}, extended`,
      };
    case 4: {
      // Any first byte of a type the fast path reads, with any flags.
      b[0] = (rng.pick([3, 4, 5, 6, 7, 12]) << 4) | rng.int(16);
      return { ...base, bytes: b, what: `${base.what}, first byte 0x${b[0].toString(16)}` };
    }
    case 5: {
      // The body with a different (possibly wrong) Remaining Length.
      let lengthEnd = 1;
      while (lengthEnd < b.length && at(b, lengthEnd) & 0x80) lengthEnd++;
      const body = b.subarray(lengthEnd + 1);
      const claimed = Math.max(0, body.length + rng.range(-3, 3));
      return {
        ...base,
        bytes: Buffer.concat([fixedHeader(at(b, 0), claimed), body]),
        what: `${base.what}, length ${claimed}`,
      };
    }
    case 6:
      // The same bytes read in another version.
      return { ...base, version: rng.pick(VERSIONS), what: `${base.what} read in another version` };
    case 7: {
      // A v5 PUBLISH or acknowledgement with properties (or a property length of several bytes).
      const topic = Buffer.from(rng.string(rng.range(0, 10), true));
      const props = rng.pick([
        [1, 1],
        [2, 0, 0, 0, 60],
        [0x80, 0],
        [3],
        [rng.int(256)],
        [0x26, 0, 1, 0x61, 0, 1, 0x62],
      ]);
      if (rng.bool()) {
        const parts = [
          u16(topic.length),
          topic,
          u16(rng.range(1, 9)),
          Buffer.from([props.length]),
          Buffer.from(props),
        ];
        return {
          bytes: packet(0x32, Buffer.concat(parts)),
          version: 5,
          what: `publish v5 properties ${props}`,
        };
      }
      const ack = rng.pick(ACKS);
      const body = Buffer.concat([
        u16(rng.int(65536)),
        Buffer.from([rng.int(256), props.length]),
        Buffer.from(props),
      ]);
      return {
        bytes: packet(ack.first, body.subarray(0, rng.range(2, body.length))),
        version: 5,
        what: `${ack.cmd} v5 long`,
      };
    }
    case 8:
      return { bytes: rng.bytes(rng.range(0, 24)), version, what: 'garbage' };
    default: {
      const first = (rng.pick([3, 4, 5, 6, 7, 12]) << 4) | rng.int(16);
      return {
        bytes: Buffer.concat([Buffer.from([first]), rng.bytes(rng.range(0, 12))]),
        version,
        what: 'garbage with a hot type',
      };
    }
  }
}

/** The fast path's answer is undefined, or exactly the library's one packet from exactly these bytes. */
function checkAgainstLibrary(c: Case): 'fast' | 'fallback' {
  const fast = decodeHotPacket(c.bytes, c.version);
  if (fast === undefined) return 'fallback';
  const lib = libraryParse(c.bytes, c.version);
  const context = `${c.what}: ${c.bytes.subarray(0, 16).toString('hex')}`;
  assert.deepEqual(lib.errors, [], context);
  assert.equal(lib.packets.length, 1, context);
  assert.equal(lib.left, 0, context);
  assert.deepStrictEqual(fast, lib.packets[0], context);
  return 'fast';
}

/** A decoder that has read a CONNECT in `version`. */
function connectedDecoder(version: Version, fast = true): MqttDecoder {
  const decoder = new MqttDecoder();
  const connect = mqttPacket.generate(
    {
      cmd: 'connect',
      protocolId: version === 3 ? 'MQIsdp' : 'MQTT',
      protocolVersion: version,
      clientId: 'c',
    },
    { protocolVersion: version },
  );
  const result = fast ? decoder.decode(connect) : decoder.decodeWithParser(connect);
  assert.equal((result as Packet).cmd, 'connect');
  return decoder;
}

test('the fast path reads random valid hot packets exactly as mqtt-packet does', () => {
  const rng = new Rng(0x5eed01);
  const decoders = new Map(VERSIONS.map((v) => [v, connectedDecoder(v)]));
  const counts = new Map<string, number>();
  for (let i = 0; i < 6000; i++) {
    const c = randomValid(rng, rng.pick(VERSIONS));
    const context = `#${i} ${c.what}: ${c.bytes.subarray(0, 16).toString('hex')}`;
    assert.equal(checkAgainstLibrary(c), 'fast', context);
    // The decoder of a connection takes the fast path and gives the same.
    const lib = libraryParse(c.bytes, c.version);
    assert.deepStrictEqual(decoders.get(c.version)?.decode(c.bytes), lib.packets[0], context);
    const cmd = at(lib.packets, 0).cmd;
    counts.set(cmd, (counts.get(cmd) ?? 0) + 1);
  }
  for (const cmd of ['publish', 'puback', 'pubrec', 'pubrel', 'pubcomp', 'pingreq']) {
    assert.ok((counts.get(cmd) ?? 0) > 100, `${cmd}: ${counts.get(cmd)}`);
  }
});

test('payload sizes around the Remaining Length boundaries', () => {
  const rng = new Rng(42);
  for (const version of VERSIONS) {
    for (const size of [
      0, 1, 100, 118, 119, 120, 121, 122, 16_370, 16_375, 16_376, 16_380, 16_384, 65_535, 70_000,
    ]) {
      for (const qos of [0, 1, 2]) {
        const topic = Buffer.from('a/b');
        const parts = [u16(topic.length), topic];
        if (qos > 0) parts.push(u16(9));
        if (version === 5) parts.push(Buffer.from([0]));
        parts.push(rng.bytes(size));
        const c = { bytes: packet(0x30 | (qos << 1), Buffer.concat(parts)), version, what: `size ${size}` };
        assert.equal(checkAgainstLibrary(c), 'fast', c.what);
      }
    }
  }
});

test('v5 acknowledgements: every reason code, fast exactly when mqtt-packet accepts it', () => {
  for (const ack of ACKS) {
    for (let code = 0; code < 256; code++) {
      const bytes = Buffer.from([ack.first, 3, 0x12, 0x34, code]);
      const lib = libraryParse(bytes, 5);
      const fast = decodeHotPacket(bytes, 5);
      if (lib.errors.length > 0) assert.equal(fast, undefined, `${ack.cmd} 0x${code.toString(16)}`);
      else assert.deepStrictEqual(fast, lib.packets[0], `${ack.cmd} 0x${code.toString(16)}`);
    }
  }
});

test('boundaries: lengths one short or over, missing fields, long Remaining Length forms', () => {
  const cases: Case[] = [];
  const add = (bytes: Buffer, what: string) => {
    for (const version of VERSIONS) cases.push({ bytes, version, what: `${what} v${version}` });
  };
  // Remaining Length in 1 to 5 bytes (5 is malformed), value 0 and the value of a body.
  for (let extra = 0; extra <= 4; extra++) {
    const zero = Buffer.from([...Array(extra).fill(0x80), 0]);
    add(Buffer.concat([Buffer.from([0xc0]), zero]), `pingreq, length in ${extra + 1} bytes`);
    const body = Buffer.from([0, 1, 0x74, 0, 7, 0, 0x78]);
    const len = Buffer.from([...Array(extra).fill(0x80), 0]);
    len[0] = at(len, 0) | body.length;
    add(Buffer.concat([Buffer.from([0x32]), len, body]), `publish, length in ${extra + 1} bytes`);
  }
  // A topic length against the bytes there are; a packet identifier cut short; v5 properties missing.
  for (const qos of [0, 1, 2]) {
    for (let cut = 0; cut <= 6; cut++) {
      const full = Buffer.concat([u16(3), Buffer.from('a/b'), u16(5), Buffer.from([0])]);
      add(packet(0x30 | (qos << 1), full.subarray(0, full.length - cut)), `publish qos ${qos} cut by ${cut}`);
    }
    for (const claimed of [0, 1, 2, 3, 4, 5, 6, 7, 8, 65535]) {
      const body = Buffer.concat([u16(claimed), Buffer.from('a/b'), u16(5), Buffer.from([0])]);
      add(packet(0x30 | (qos << 1), body), `publish qos ${qos} topic length ${claimed}`);
    }
  }
  // Acknowledgements of 0 to 5 bytes; PINGREQ with a body.
  for (const ack of ACKS) {
    for (let n = 0; n <= 5; n++)
      add(packet(ack.first, Buffer.from([0, 9, 0, 0, 0].slice(0, n))), `${ack.cmd} of ${n}`);
  }
  add(packet(0xc0, Buffer.from([0])), 'pingreq with a body');
  const taken = { fast: 0, fallback: 0 };
  for (const c of cases) taken[checkAgainstLibrary(c)]++;
  assert.ok(taken.fast > 50 && taken.fallback > 50, JSON.stringify(taken));
});

test('damaged packets and garbage: the same result as mqtt-packet, or left to it', () => {
  const rng = new Rng(0xbadbeef);
  const taken = { fast: 0, fallback: 0 };
  for (let i = 0; i < 20_000; i++) {
    const c = mutated(rng);
    taken[checkAgainstLibrary({ ...c, what: `#${i} ${c.what}` })]++;
  }
  // Both ways are well exercised.
  assert.ok(taken.fast > 2000 && taken.fallback > 2000, JSON.stringify(taken));
});

function sameOutcome(actual: Packet | Error, expected: Packet | Error, context: string): void {
  if (expected instanceof Error) {
    assert.ok(actual instanceof Error, `${context}: expected error ${expected.message}`);
    assert.equal(actual.constructor, expected.constructor, context);
    assert.equal(actual.message, expected.message, context);
    if (expected instanceof MqttPacketError) {
      assert.equal((actual as MqttPacketError).reasonCode, expected.reasonCode, context);
    }
    return;
  }
  assert.deepStrictEqual(actual, expected, context);
}

test('a connection decoder gives what mqtt-packet alone gives, packet after packet', () => {
  const rng = new Rng(0xdec0de);
  for (let run = 0; run < 30; run++) {
    const version = rng.pick(VERSIONS);
    const fast = connectedDecoder(version);
    const reference = connectedDecoder(version, false);
    for (let i = 0; i < 400; i++) {
      let c: Case;
      const r = rng.int(20);
      if (r < 10) c = randomValid(rng, version, 3000);
      else if (r < 16) c = mutated(rng);
      else if (r < 18) {
        // Not one whole packet: two, or one and a part of the next (the parser keeps the part).
        const a = randomValid(rng, version, 200).bytes;
        const b = randomValid(rng, version, 200).bytes;
        c = {
          bytes: Buffer.concat([a, b.subarray(0, rng.range(1, b.length))]),
          version,
          what: 'packets joined',
        };
      } else if (r < 19) {
        c = { bytes: Buffer.from([rng.pick([0x30, 0x32, 0x40, 0xc0])]), version, what: 'a lone first byte' };
      } else {
        // Another CONNECT: the parser reads in its version from then on.
        const v = rng.pick(VERSIONS);
        const connect = mqttPacket.generate(
          { cmd: 'connect', protocolId: v === 3 ? 'MQIsdp' : 'MQTT', protocolVersion: v, clientId: 'c' },
          { protocolVersion: v },
        );
        c = { bytes: connect, version: v, what: `connect v${v}` };
      }
      const context = `run ${run} #${i} ${c.what}: ${c.bytes.subarray(0, 16).toString('hex')}`;
      sameOutcome(fast.decode(c.bytes), reference.decodeWithParser(c.bytes), context);
    }
  }
});

test('the fast path returns fresh objects whose payload is a view of the packet', () => {
  const bytes = packet(0x33, Buffer.concat([u16(1), Buffer.from('t'), u16(5), Buffer.from('hello')]));
  const a = decodeHotPacket(bytes, 4) as Packet & { payload: Buffer };
  const b = decodeHotPacket(bytes, 4) as Packet & { payload: Buffer };
  assert.notEqual(a, b);
  assert.equal(a.payload.toString(), 'hello');
  assert.equal(a.payload.buffer, bytes.buffer);
  assert.equal(a.payload.byteOffset, bytes.byteOffset + bytes.length - 5);
});

test('a connection decoder reading topics again (RecentName) gives what mqtt-packet gives', () => {
  const rng = new Rng(0x70b1c);
  // Few topics, so that most PUBLISH packets repeat one: same bytes, same length with other
  // bytes, one byte apart, ill-formed UTF-8, empty, and longer than what is remembered.
  const pool = [
    Buffer.from('sensors/1/t'),
    Buffer.from('sensors/2/t'),
    Buffer.from('sensors/1/T'),
    Buffer.from('sensors/1/tt'),
    Buffer.from('h\u00e9/\u{1f600}'),
    Buffer.from([0x61, 0x2f, 0xc0, 0xaf]),
    Buffer.from([0x61, 0x2f, 0xc0, 0xae]),
    Buffer.alloc(0),
    Buffer.from('x'.repeat(128)),
    Buffer.from(`${'x'.repeat(128)}y`),
    Buffer.from(`${'x'.repeat(128)}z`),
  ];
  for (const version of VERSIONS) {
    const fast = connectedDecoder(version);
    const reference = connectedDecoder(version, false);
    for (let i = 0; i < 3000; i++) {
      const topic = rng.pick(pool);
      const qos = rng.int(3);
      const parts = [u16(topic.length), topic];
      if (qos > 0) parts.push(u16(rng.range(1, 65_535)));
      if (version === 5) parts.push(Buffer.from([0]));
      parts.push(rng.bytes(rng.range(0, 20)));
      const bytes = packet(0x30 | (qos << 1), Buffer.concat(parts));
      const context = `v${version} #${i} ${topic.toString('hex')}`;
      sameOutcome(fast.decode(bytes), reference.decodeWithParser(bytes), context);
    }
  }
});
