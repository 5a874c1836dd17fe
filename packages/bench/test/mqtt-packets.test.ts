import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { at } from '@pulse/protocol/test/element';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { findStamp, markedPayload, writeStamp } from '../src/generator/marker.js';
import {
  ackPacket,
  connectPacket,
  type MqttPacketHandler,
  MqttReader,
  PUBACK,
  PUBCOMP,
  PUBREC,
  PUBREL,
  publishIdOffset,
  publishPacket,
  subscribePacket,
} from '../src/generator/mqtt-packets.js';

/** What mqtt-packet makes of bytes the generator built. */
function parse(bytes: Buffer): Packet[] {
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const out: Packet[] = [];
  const errors: Error[] = [];
  parser.on('packet', (p: Packet) => out.push(p));
  parser.on('error', (e: Error) => errors.push(e));
  parser.parse(bytes);
  assert.deepEqual(errors, []);
  return out;
}

const gen = (p: Packet): Buffer => mqttPacket.generate(p, { protocolVersion: 4 });

type Event = [string, ...unknown[]];

/** Records what the reader reports; `captured` publish bodies as latin1 text. */
class Recorder implements MqttPacketHandler {
  events: Event[] = [];
  reader!: MqttReader;
  onPublish(byte0: number, packetId: number, captured: number): void {
    const body = this.reader.capture ? this.reader.capture.toString('latin1', 0, captured) : null;
    this.events.push(['publish', (byte0 >> 1) & 3, packetId, ...(body === null ? [] : [body])]);
  }
  onAck(type: number, packetId: number): void {
    this.events.push(['ack', type, packetId]);
  }
  onControl(type: number, _byte0: number, body: Buffer): void {
    this.events.push(['control', type, body.toString('hex')]);
  }
}

function read(chunks: Buffer[], capture = 0): Event[] {
  const recorder = new Recorder();
  recorder.reader = new MqttReader(recorder, capture);
  for (const chunk of chunks) {
    // Parse from the middle of a larger buffer, as the shared read buffer is.
    const padded = Buffer.concat([Buffer.from('zz'), chunk, Buffer.from('zz')]);
    recorder.reader.push(padded, 2, 2 + chunk.length);
  }
  return recorder.events;
}

const payload = Buffer.alloc(128, 0x61);
const longTopic = `bench/${'t'.repeat(300)}`;
/** What a broker sends a client, and what the reader should report for it. */
const stream: [Buffer, Event][] = [
  [gen({ cmd: 'connack', returnCode: 0, sessionPresent: false }), ['control', 2, '0000']],
  [gen({ cmd: 'suback', messageId: 1, granted: [1] }), ['control', 9, '000101']],
  [gen({ cmd: 'publish', topic: 'a/b', payload, qos: 0, retain: false, dup: false }), ['publish', 0, 0]],
  [
    gen({ cmd: 'publish', topic: 'a/b', payload, qos: 1, messageId: 513, retain: true, dup: false }),
    ['publish', 1, 513],
  ],
  [
    gen({ cmd: 'publish', topic: longTopic, payload, qos: 2, messageId: 65535, retain: false, dup: false }),
    ['publish', 2, 65535],
  ],
  [gen({ cmd: 'puback', messageId: 7 }), ['ack', PUBACK, 7]],
  [gen({ cmd: 'pubrec', messageId: 8 }), ['ack', PUBREC, 8]],
  [gen({ cmd: 'pubrel', messageId: 300 }), ['ack', PUBREL, 300]],
  [gen({ cmd: 'pubcomp', messageId: 9 }), ['ack', PUBCOMP, 9]],
  [gen({ cmd: 'pingresp' }), ['control', 13, '']],
  [
    gen({
      cmd: 'publish',
      topic: 'x',
      payload: Buffer.alloc(0),
      qos: 1,
      messageId: 2,
      retain: false,
      dup: true,
    }),
    ['publish', 1, 2],
  ],
  [
    gen({ cmd: 'publish', topic: 'big', payload: Buffer.alloc(20000, 1), qos: 0, retain: false, dup: false }),
    ['publish', 0, 0],
  ],
];
const bytes = Buffer.concat(stream.map(([b]) => b));
const expected = stream.map(([, e]) => e);

describe('MQTT packets the generator builds', () => {
  it('are what mqtt-packet reads', () => {
    const connect = at(parse(connectPacket('bench-1', 60)), 0);
    assert.equal(connect.cmd, 'connect');
    assert.equal(connect.cmd === 'connect' && connect.clientId, 'bench-1');
    assert.equal(connect.cmd === 'connect' && connect.keepalive, 60);
    assert.equal(connect.cmd === 'connect' && connect.clean, true);
    assert.equal(connect.cmd === 'connect' && connect.protocolVersion, 4);

    const sub = at(parse(subscribePacket(3, 'bench/#', 2)), 0);
    assert.deepEqual(sub.cmd === 'subscribe' && [sub.messageId, sub.subscriptions], [
      3,
      [{ topic: 'bench/#', qos: 2 }],
    ]);

    for (const qos of [0, 1, 2] as const) {
      const pub = at(parse(publishPacket('bench/m1', payload, qos, 4242, qos === 1)), 0);
      assert.equal(pub.cmd, 'publish');
      if (pub.cmd !== 'publish') continue;
      assert.equal(pub.topic, 'bench/m1');
      assert.equal(pub.qos, qos);
      assert.equal(pub.retain, qos === 1);
      assert.equal(pub.messageId, qos > 0 ? 4242 : undefined);
      assert.deepEqual(Buffer.from(pub.payload as Buffer), payload);
    }

    const acks = parse(
      Buffer.concat([
        ackPacket(PUBACK, 1),
        ackPacket(PUBREC, 2),
        ackPacket(PUBREL, 258),
        ackPacket(PUBCOMP, 4),
      ]),
    );
    assert.deepEqual(
      acks.map((p) => [p.cmd, p.messageId]),
      [
        ['puback', 1],
        ['pubrec', 2],
        ['pubrel', 258],
        ['pubcomp', 4],
      ],
    );
  });

  it('patch packet ids and stamps in place', () => {
    const template = publishPacket('bench/m1', markedPayload(128), 2, 1);
    const copy = Buffer.from(template);
    copy.writeUInt16BE(40000, publishIdOffset(copy));
    const digits = Buffer.from('@@0000000000000000');
    writeStamp(digits, 0, 123456789);
    digits.copy(copy, copy.indexOf('@@'));
    const pub = at(parse(copy), 0);
    assert.equal(pub.messageId, 40000);
    assert.equal(findStamp(copy, 0, copy.length), 123456789);
  });
});

describe('MqttReader', () => {
  it('reads many packets from one chunk', () => {
    assert.deepEqual(read([bytes]), expected);
  });

  it('reads a stream cut anywhere into two chunks', () => {
    for (let cut = 0; cut <= bytes.length; cut += cut < 1200 ? 1 : 97) {
      assert.deepEqual(read([bytes.subarray(0, cut), bytes.subarray(cut)]), expected, `cut at ${cut}`);
    }
  });

  it('reads a stream fed byte by byte', () => {
    const chunks = Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1));
    assert.deepEqual(read(chunks), expected);
  });

  it('captures the first body bytes of each PUBLISH for the latency marker', () => {
    const body = markedPayload(64);
    writeStamp(body, 0, 42);
    const packets = Buffer.concat([
      gen({ cmd: 'publish', topic: 't/1', payload: body, qos: 1, messageId: 5, retain: false, dup: false }),
      gen({ cmd: 'publish', topic: 't/2', payload: body, qos: 0, retain: false, dup: false }),
    ]);
    for (const chunks of [[packets], Array.from(packets, (_, i) => packets.subarray(i, i + 1))]) {
      const events = read(chunks, 32);
      assert.equal(events.length, 2);
      // Topic length + topic (+ packet id) + the first bytes of the payload, up to 32 bytes.
      assert.deepEqual(events[0], ['publish', 1, 5, `\x00\x03t/1\x00\x05${body.toString('latin1', 0, 25)}`]);
      assert.deepEqual(events[1], ['publish', 0, 0, `\x00\x03t/2${body.toString('latin1', 0, 27)}`]);
      const capture = Buffer.from(events[0][3] as string, 'latin1');
      assert.equal(findStamp(capture, 0, capture.length), 42);
    }
  });

  it('refuses a malformed remaining length and a PUBLISH too short for its packet id', () => {
    assert.throws(() => read([Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])]), /remaining length/);
    assert.throws(() => read([Buffer.from([0x32, 0x01, 0x00])]), /too short/);
    assert.throws(() => read([Buffer.from([0x32, 0x04, 0x00, 0x09, 0x61, 0x62])]), /topic past the packet/);
  });
});
