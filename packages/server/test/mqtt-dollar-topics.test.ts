import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { IConnackPacket, IPubackPacket } from 'mqtt-packet';
import { sleep } from './helpers.js';
import { RawMqtt, connectPacket, endAll, mqttClient, withMqtt } from './mqtt-helpers.js';

const publish = (topic: string, messageId: number, retain = false) =>
  ({ cmd: 'publish', topic, payload: Buffer.from('x'), qos: 1, messageId, dup: false, retain }) as const;

test('clients publish to $ topics but $SYS and $share, as in Mosquitto; only filters naming the first level see them', async () => {
  await withMqtt({}, async (h) => {
    const named = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await named.subscribeAsync(['$app/#', '$SYS/broker/connection/+/state'], { qos: 1 });
    const wild = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await wild.subscribeAsync(['#', '+/+', '+/x', '+/broker/connection/+/state'], { qos: 1 });
    const { raw } = await RawMqtt.connect(h.mqttPort, 5);
    const outcomes: Record<string, number | undefined> = {};
    const topics = [
      '$app/x',
      '$TopicA/B',
      '$SYS/broker/connection/edge-1/state',
      '$SYS/x',
      '$SYS',
      '$SYS/broker/connection/edge-1/other',
      '$SYS/broker/connection//state',
      '$share/g/x',
    ];
    for (const [i, topic] of topics.entries()) {
      raw.send(publish(topic, i + 1));
      const ack = (await raw.next('puback')) as IPubackPacket & { length: number };
      outcomes[topic] = ack.reasonCode;
      // Strict clients (Paho's test client, whose $-topic test publishes to "$TopicA/B") read
      // only PUBACKs of 2 to 4 bytes after the fixed header.
      if ((ack.reasonCode ?? 0) < 0x80) assert.ok(ack.length <= 4, `${topic}: PUBACK of ${ack.length} bytes`);
    }
    assert.deepEqual(outcomes, {
      '$app/x': 0x00,
      '$TopicA/B': 0x10,
      '$SYS/broker/connection/edge-1/state': 0x00,
      '$SYS/x': 0x87,
      $SYS: 0x87,
      '$SYS/broker/connection/edge-1/other': 0x87,
      '$SYS/broker/connection//state': 0x87,
      '$share/g/x': 0x87,
    });
    const got = await named.inbox.waitFor(2);
    assert.deepEqual(got.map((m) => m.topic).sort(), ['$SYS/broker/connection/edge-1/state', '$app/x']);
    // A control: the wildcard subscriber does receive an ordinary topic (once).
    raw.send(publish('plain/x', 99));
    await raw.next('puback');
    await wild.inbox.waitFor(1);
    await sleep(100);
    assert.deepEqual(
      wild.inbox.items.map((m) => m.topic),
      ['plain/x'],
      'a wildcard in the first level never matches a $ topic',
    );
    raw.destroy();
    await endAll(named, wild);
  });
});

test('a client $ topic is retained like any other: counted in mqtt.max_retained_messages', async () => {
  await withMqtt({ mqtt: { max_retained_messages: 1 } }, async (h) => {
    const { raw } = await RawMqtt.connect(h.mqttPort, 5);
    raw.send(publish('$app/r', 1, true));
    assert.equal(((await raw.next('puback')) as IPubackPacket).reasonCode, 0x10);
    raw.send(publish('$SYS/broker/connection/b/state', 2, true));
    assert.equal(((await raw.next('puback')) as IPubackPacket).reasonCode, 0x97, 'the store is full');
    raw.send(publish('plain/r', 3, true));
    assert.equal(((await raw.next('puback')) as IPubackPacket).reasonCode, 0x97, 'the store is full');
    const late = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await late.subscribeAsync('$app/#');
    const [kept] = await late.inbox.waitFor(1);
    assert.ok(kept !== undefined);
    assert.equal(kept.topic, '$app/r');
    assert.equal(kept.packet.retain, true);
    raw.destroy();
    await endAll(late);
  });
});

test('wills on bridge state topics are accepted and published; a will on $SYS/... is refused with 0x87 / 5', async () => {
  await withMqtt({}, async (h) => {
    const watcher = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await watcher.subscribeAsync('$SYS/broker/connection/+/state', { qos: 1 });
    for (const version of [4, 5] as const) {
      const topic = `$SYS/broker/connection/bridge-v${version}/state`;
      const { raw } = await RawMqtt.connect(h.mqttPort, version, {
        will: { topic, payload: Buffer.from('0'), qos: 1, retain: true },
      });
      raw.destroy();
      const [will] = await watcher.inbox.waitFor(1);
      assert.ok(will !== undefined);
      watcher.inbox.items.length = 0;
      assert.equal(will.topic, topic);
      assert.equal(will.payload.toString(), '0');
    }
    for (const version of [4, 5] as const) {
      const raw = await RawMqtt.open(h.mqttPort, version);
      raw.send(
        connectPacket(version, {
          will: { topic: '$SYS/x', payload: Buffer.from('0'), qos: 0, retain: false },
        }),
      );
      const connack = (await raw.next('connack')) as IConnackPacket;
      assert.equal(version === 5 ? connack.reasonCode : connack.returnCode, version === 5 ? 0x87 : 5);
      await raw.expectClosed();
    }
    await endAll(watcher);
  });
});

test('one connection alternating an accepted topic with refused ones: each PUBLISH is judged on its own', async () => {
  // MqttLink skips the topic checks for the topic it last let through (RecentName): a
  // refused topic is never that one, and the accepted one stays accepted.
  await withMqtt({}, async (h) => {
    const { raw } = await RawMqtt.connect(h.mqttPort, 5);
    const sequence: [string, number][] = [
      ['plain/ok', 0x10],
      ['$SYS/x', 0x87],
      ['plain/ok', 0x10],
      ['$share/g/x', 0x87],
      ['plain/ok', 0x10],
      ['$SYS/y', 0x87],
    ];
    for (const [i, [topic, reason]] of sequence.entries()) {
      raw.send(publish(topic, i + 1));
      const ack = (await raw.next('puback')) as IPubackPacket;
      assert.deepEqual([ack.messageId, ack.reasonCode], [i + 1, reason], topic);
    }
    raw.send(publish('plain/+', 50));
    await raw.expectDisconnect(0x90);
  });
});
