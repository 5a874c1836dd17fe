import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type Socket, connect } from 'node:net';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import mqttPacket, { type IPublishPacket } from 'mqtt-packet';
import {
  type MqttHarness,
  type MqttVersion,
  RawMqtt,
  encode,
  lstr,
  rawConnect,
  uniqueId,
  within,
  withMqtt,
} from './mqtt-helpers.js';

// A PUBLISH that is already the packet Pulse would write is delivered as it came
// (publish-encoding.ts, adoptReceivedPublish); every other one is written afresh. Seen from a
// subscriber's socket: the bytes it reads, and what a strict reading of them gives.

/** A raw client that keeps every byte it reads, split into whole packets. */
class Capture {
  private pending = Buffer.alloc(0);
  readonly packets: Buffer[] = [];
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.pending = Buffer.concat([this.pending, chunk]);
      for (;;) {
        let length = 0;
        let pos = 1;
        for (let multiplier = 1; pos < this.pending.length; multiplier *= 128) {
          const byte = this.pending[pos++] as number;
          length += (byte & 0x7f) * multiplier;
          if ((byte & 0x80) === 0) break;
        }
        if (this.pending.length < 2 || this.pending.length < pos + length) break;
        this.packets.push(this.pending.subarray(0, pos + length));
        this.pending = this.pending.subarray(pos + length);
      }
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static async open(port: number, version: MqttVersion, subscribeTo?: string): Promise<Capture> {
    const socket = connect({ host: '127.0.0.1', port });
    await once(socket, 'connect');
    const c = new Capture(socket);
    socket.write(
      rawConnect({ level: version, name: version === 3 ? 'MQIsdp' : 'MQTT', clientId: uniqueId('cap') }),
    );
    assert.equal(((await c.next()) as Buffer)[0], 0x20, 'CONNACK');
    if (subscribeTo !== undefined) {
      const props = version === 5 ? [0] : [];
      socket.write(
        Buffer.concat([
          Buffer.from([0x82]),
          Buffer.from([2 + props.length + 2 + Buffer.byteLength(subscribeTo) + 1]),
          Buffer.from([0, 1, ...props]),
          lstr(subscribeTo),
          Buffer.from([2]),
        ]),
      );
      assert.equal(((await c.next()) as Buffer)[0], 0x90, 'SUBACK');
    }
    return c;
  }

  async next(): Promise<Buffer> {
    const at = this.taken++;
    while (this.packets.length <= at) {
      await within(new Promise<void>((r) => this.waiters.push(r)), 3000, 'a packet from the server');
    }
    return this.packets[at] as Buffer;
  }

  private taken = 0;
}

/** What a strict MQTT reader makes of one packet the server wrote. */
function parse(bytes: Buffer, version: MqttVersion): IPublishPacket {
  const parser = mqttPacket.parser({ protocolVersion: version });
  const packets: IPublishPacket[] = [];
  parser.on('packet', (p) => packets.push(p as IPublishPacket));
  parser.on('error', (err) => assert.fail(err));
  parser.parse(bytes);
  assert.equal(packets.length, 1);
  return packets[0] as IPublishPacket;
}

async function scenario(fn: (h: MqttHarness) => Promise<void>): Promise<void> {
  await withMqtt({}, fn);
}

/** A QoS `qos` PUBLISH with first byte `first`, body fields as given, Remaining Length in `lengthForm` bytes. */
function publishBytes(o: {
  first: number;
  topic: string;
  id?: number;
  v5props?: Buffer;
  payload: Buffer;
  lengthForm?: number;
}): Buffer {
  const id = o.id === undefined ? Buffer.alloc(0) : Buffer.from([o.id >> 8, o.id & 0xff]);
  const body = Buffer.concat([lstr(o.topic), id, o.v5props ?? Buffer.alloc(0), o.payload]);
  const length: number[] = [];
  let n = body.length;
  for (let i = 0; i < (o.lengthForm ?? 1) || n > 0; i++) {
    const digit = n % 128;
    n = Math.floor(n / 128);
    const last = i + 1 >= (o.lengthForm ?? 1) && n === 0;
    length.push(last ? digit : digit | 0x80);
  }
  return Buffer.concat([Buffer.from([o.first]), Buffer.from(length), body]);
}

test('a plain QoS 0 PUBLISH reaches a subscriber of the same version byte for byte (3.1, 3.1.1, 5)', async () => {
  await scenario(async (h) => {
    for (const version of [3, 4, 5] as const) {
      const topic = `fwd/plain/${version}`;
      const sub = await Capture.open(h.mqttPort, version, topic);
      const pub = await Capture.open(h.mqttPort, version);
      const sent = publishBytes({
        first: 0x30,
        topic,
        v5props: version === 5 ? Buffer.from([0]) : undefined,
        payload: Buffer.from(`hello ${version}`),
      });
      pub.socket.write(sent);
      assert.deepEqual(await sub.next(), sent, `v${version}`);
      sub.socket.destroy();
      pub.socket.destroy();
    }
  });
});

test('what is not the packet Pulse writes is written afresh: long Remaining Length, DUP, RETAIN, QoS 1 ids, properties, another version', async () => {
  await scenario(async (h) => {
    const topic = 'fwd/changed';
    const sub4 = await Capture.open(h.mqttPort, 4, topic);
    const sub5 = await Capture.open(h.mqttPort, 5, topic);
    const pub4 = await Capture.open(h.mqttPort, 4);
    const pub5 = await Capture.open(h.mqttPort, 5);
    const payload = Buffer.from('payload');

    // A Remaining Length in a longer form than needed (which mqtt-packet reads): the subscriber
    // gets the shortest form, which a strict reader requires (MQTT 5 §1.5.5).
    pub4.socket.write(publishBytes({ first: 0x30, topic, payload, lengthForm: 3 }));
    const long = await sub4.next();
    assert.equal(long[1], long.length - 2, 'one-byte Remaining Length');
    assert.deepEqual(parse(long, 4).payload, payload);
    const longAs5 = await sub5.next();
    assert.equal(longAs5[1], longAs5.length - 2);
    assert.equal(parse(longAs5, 5).properties, undefined, 'an empty property list');

    // QoS 1 with DUP and the publisher's packet id 77: the subscriber's copy is a first
    // delivery, with the id the server chose for it.
    pub4.socket.write(publishBytes({ first: 0x3a, topic, id: 77, payload }));
    const qos1 = parse(await sub4.next(), 4);
    assert.equal(qos1.qos, 1);
    assert.equal(qos1.dup, false);
    assert.notEqual(qos1.messageId, undefined);
    assert.deepEqual(qos1.payload, payload);
    await sub5.next();

    // RETAIN set: delivered to an existing subscription with RETAIN clear (MQTT 5 §3.3.1.3).
    pub4.socket.write(publishBytes({ first: 0x31, topic, payload }));
    const retained = await sub4.next();
    assert.equal(retained[0], 0x30);
    assert.equal(parse(retained, 4).retain, false);
    await sub5.next();

    // A v5 PUBLISH with a user property: the property reaches the v5 subscriber, and not the 3.1.1 one.
    const user = encode(
      {
        cmd: 'publish',
        topic,
        payload,
        qos: 0,
        retain: false,
        dup: false,
        properties: { userProperties: { k: 'v' } },
      },
      5,
    );
    pub5.socket.write(user);
    assert.deepEqual({ ...parse(await sub5.next(), 5).properties?.userProperties }, { k: 'v' });
    const userAs4 = await sub4.next();
    assert.deepEqual(parse(userAs4, 4).payload, payload);
    assert.equal(userAs4.length, 2 + 2 + topic.length + payload.length, 'no property bytes in 3.1.1');

    for (const c of [sub4, sub5, pub4, pub5]) c.socket.destroy();
  });
});

test('a PUBLISH that came in one read with other packets is not delivered as a view of that read: a QoS 0 delivery waiting on a slow subscriber holds its own bytes', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  // Two collections with a turn between: V8 frees dead array buffers' memory after a
  // collection (its sweeper), so one gc() can still count the 6 MB of reads no one holds.
  const arrayBuffers = async () => {
    gc();
    await new Promise((r) => setImmediate(r));
    gc();
    return process.memoryUsage().arrayBuffers;
  };
  // Deliveries wait in the subscriber's socket once the kernel's buffers are full: a budget
  // above what fills them, and no publisher pause, so that every delivery is written.
  const limits = { max_outbound_bytes: 64 * 1024 * 1024, max_publisher_pause_ms: 0 };
  await withMqtt({ mqtt: { sys_interval_ms: 0 }, limits }, async (h) => {
    const topic = 'fwd/slow';
    const { raw: sub } = await RawMqtt.connect(h.mqttPort, 4);
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 0 }] });
    await sub.next('suback');
    sub.socket.pause();
    const { raw: pub } = await RawMqtt.connect(h.mqttPort, 4);
    pub.socket.setNoDelay(true);
    const handled = async () => {
      pub.send({ cmd: 'pingreq' });
      await pub.next('pingresp');
    };
    // 15 MB to the subscriber, which reads nothing: more than loopback's socket buffers hold.
    const filler = publishBytes({ first: 0x30, topic, payload: Buffer.alloc(60_000, 1) });
    for (let i = 0; i < 256; i++) pub.write(filler);
    await handled();
    const before = await arrayBuffers();
    // Each read: a 13-byte PUBLISH for the subscriber, then 60 kB for a topic no one has.
    const small = publishBytes({ first: 0x30, topic, payload: Buffer.from('s') });
    const other = publishBytes({ first: 0x30, topic: 'fwd/nobody', payload: Buffer.alloc(60_000, 2) });
    const sent = 100;
    for (let i = 0; i < sent; i++) {
      pub.write(Buffer.concat([small, other]));
      await handled(); // so that the next one is another read
    }
    const grown = (await arrayBuffers()) - before;
    // 1.3 kB of deliveries; as views of the reads they were cut from, 6 MB of reads stay.
    assert.ok(grown < 1_000_000, `${grown} bytes more held for ${sent} deliveries of ${small.length} bytes`);
    sub.socket.resume();
    const last = (await sub.packets.waitFor(1 + 256 + sent, 10_000)).slice(-sent);
    assert.deepEqual(
      last.map((p) => (p as IPublishPacket).payload.toString()),
      Array(sent).fill('s'),
    );
    sub.destroy();
    pub.destroy();
  });
});
