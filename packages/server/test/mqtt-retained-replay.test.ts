import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import { test } from 'node:test';
import type { IPublishPacket, ISubackPacket } from 'mqtt-packet';
import { sleep } from './helpers.js';
import {
  type MqttHarness,
  RawMqtt,
  encode,
  endAll,
  eventually,
  metric,
  mqttClient,
  withMqtt,
} from './mqtt-helpers.js';

/** Retains `count` messages on `topic(i)` over one raw connection, in one write (QoS 1: up to 1,024). */
async function retainMany(
  h: MqttHarness,
  count: number,
  topic: (i: number) => string,
  payload: Buffer,
  qos: 0 | 1 = 0,
): Promise<void> {
  const { raw } = await RawMqtt.connect(h.mqttPort, 5);
  const packets: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const messageId = qos === 1 ? i + 1 : undefined;
    packets.push(
      encode({ cmd: 'publish', topic: topic(i), payload, qos, messageId, retain: true, dup: false }),
    );
  }
  raw.write(Buffer.concat(packets));
  // PINGRESP comes after every publish before it was handled.
  raw.send({ cmd: 'pingreq' });
  await raw.next('pingresp', 30_000);
  raw.destroy();
}

/** Retains `count` QoS 1 messages with an MQTT.js client, acknowledged in batches. */
async function retainQos1(h: MqttHarness, count: number, topic: (i: number) => string, payload: Buffer) {
  const pub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
  for (let i = 0; i < count; i += 500) {
    const batch = [];
    for (let j = i; j < Math.min(count, i + 500); j++) {
      batch.push(pub.publishAsync(topic(j), payload, { qos: 1, retain: true }));
    }
    await Promise.all(batch);
  }
  await endAll(pub);
}

/** How long GET /health takes, at the most, over `times` sequential requests. */
async function slowestHealthCheck(h: MqttHarness, times: number): Promise<number> {
  let slowest = 0;
  for (let i = 0; i < times; i++) {
    const t0 = performance.now();
    const res = await fetch(`${h.httpUrl}/health`);
    await res.arrayBuffer();
    slowest = Math.max(slowest, performance.now() - t0);
  }
  return slowest;
}

test('retained replay (issue 9 item 10): 3,000 QoS 1 messages to a Receive Maximum 65,535 client: SUBACK, all of them, no disconnect', async () => {
  await withMqtt({ mqtt: { sys_interval_ms: 0 } }, async (h) => {
    const payload = Buffer.alloc(1024, 0x61);
    await retainQos1(h, 3000, (i) => `fleet/${i}/status`, payload);
    assert.equal(await metric(h, 'pulse_mqtt_retained'), 3000);
    const sub = await mqttClient(h.tcpUrl, { protocolVersion: 5, properties: { receiveMaximum: 65_535 } });
    const granted = await sub.subscribeAsync('fleet/#', { qos: 1 });
    assert.equal(at(granted, 0).qos, 1, 'SUBACK granted QoS 1');
    const got = await sub.inbox.waitFor(3000, 30_000);
    assert.equal(new Set(got.map((m) => m.topic)).size, 3000, 'every retained message, once');
    assert.ok(
      got.every((m) => m.packet.retain && m.packet.qos === 1 && m.payload.equals(payload)),
      'with RETAIN, at QoS 1, unchanged',
    );
    assert.ok(sub.connected, 'still connected');
    assert.deepEqual(sub.errors, []);
    assert.equal(await metric(h, 'pulse_slow_consumer_disconnects_total'), 0);
    await endAll(sub);
  });
});

test('retained replay: paced by a small outbound budget, never a slow-consumer disconnect (QoS 0 and 1, disconnect policies)', async () => {
  const overrides = {
    limits: { max_outbound_bytes: 16_384, slow_consumer_policy: 'disconnect' as const },
    mqtt: { sys_interval_ms: 0, slow_consumer_policy: 'disconnect' as const },
  };
  await withMqtt(overrides, async (h) => {
    const payload = Buffer.alloc(1000, 0x62);
    await retainMany(h, 2000, (i) => `paced/${i % 10}/${i}`, payload);
    assert.equal(await metric(h, 'pulse_mqtt_retained'), 2000);
    for (const qos of [0, 1] as const) {
      // Two filters in one SUBSCRIBE, overlapping: each replays its own matches, in order.
      const sub = await mqttClient(h.mqttWsUrl, { protocolVersion: 5 });
      const granted = await sub.subscribeAsync(['paced/#', 'paced/3/+'], { qos });
      assert.deepEqual(
        granted.map((g) => g.qos),
        [qos, qos],
      );
      const got = await sub.inbox.waitFor(2200, 30_000);
      assert.equal(got.filter((m) => m.topic.startsWith('paced/3/')).length, 400);
      assert.equal(new Set(got.map((m) => m.topic)).size, 2000);
      assert.ok(sub.connected, `QoS ${qos}: still connected`);
      await endAll(sub);
    }
    assert.equal(await metric(h, 'pulse_slow_consumer_disconnects_total'), 0);
  });
});

test('mqtt.max_inflight_messages caps the Receive Maximum the client asked for; acknowledgements let the replay go on', async () => {
  await withMqtt({ mqtt: { sys_interval_ms: 0, max_inflight_messages: 50 } }, async (h) => {
    await retainMany(h, 300, (i) => `win/${i}`, Buffer.from('w'), 1);
    const { raw } = await RawMqtt.connect(h.mqttPort, 5, { properties: { receiveMaximum: 65_535 } });
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'win/+', qos: 1 }] });
    const suback = (await raw.next('suback')) as ISubackPacket;
    assert.deepEqual(suback.granted, [1]);
    const first: IPublishPacket[] = [];
    for (let i = 0; i < 50; i++) first.push((await raw.next('publish')) as IPublishPacket);
    await raw.nothingFor(200, 'publish');
    assert.equal(await metric(h, 'pulse_mqtt_inflight'), 50);
    for (const p of first) raw.send({ cmd: 'puback', messageId: p.messageId });
    const seen = new Set(first.map((p) => p.topic));
    while (seen.size < 300) {
      const p = (await raw.next('publish')) as IPublishPacket;
      seen.add(p.topic);
      raw.send({ cmd: 'puback', messageId: p.messageId });
    }
    await raw.nothingFor(100, 'publish');
    raw.destroy();
  });
});

test('retained index (issue 9 item 11): 50,000 retained, 100 non-matching wildcard filters answer at once; a 50,000-message replay leaves the loop free', async () => {
  await withMqtt(
    { mqtt: { sys_interval_ms: 0 }, limits: { max_subscriptions_per_connection: 200 } },
    async (h) => {
      await retainMany(h, 50_000, (i) => `bulk/${i % 100}/${i}`, Buffer.from('r'));
      await eventually(
        async () => (await metric(h, 'pulse_mqtt_retained')) === 50_000,
        '50,000 retained',
        30_000,
      );
      const { raw } = await RawMqtt.connect(h.mqttPort, 5);
      const subscriptions = Array.from({ length: 100 }, (_, i) => ({
        topic: `nomatch${i}/+/#`,
        qos: 1 as const,
      }));
      const t0 = performance.now();
      raw.send({ cmd: 'subscribe', messageId: 1, subscriptions });
      const suback = (await raw.next('suback', 10_000)) as ISubackPacket;
      const subackMs = performance.now() - t0;
      assert.equal(suback.granted.length, 100);
      // Scanning every retained message for each filter took 2-3 s; the index visits 2 nodes a filter.
      assert.ok(subackMs < 1000, `SUBACK after ${subackMs.toFixed(0)} ms`);
      await raw.nothingFor(100, 'publish');
      raw.destroy();

      const sub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
      const whole = sub.subscribeAsync('bulk/#', { qos: 0 });
      const slowest = await slowestHealthCheck(h, 5);
      await whole;
      const got = await sub.inbox.waitFor(50_000, 60_000);
      assert.equal(new Set(got.map((m) => m.topic)).size, 50_000);
      assert.ok(slowest < 1000, `a health check took ${slowest.toFixed(0)} ms during the replay`);
      await sleep(50);
      assert.ok(sub.connected);
      await endAll(sub);
    },
  );
});

test('a reconnect with a window of large unacknowledged messages: resent with DUP as the socket drains, no disconnect', async () => {
  await withMqtt({ limits: { max_outbound_bytes: 65_536 }, mqtt: { sys_interval_ms: 0 } }, async (h) => {
    const session = { clientId: 'resume-paced', clean: false, properties: { sessionExpiryInterval: 60 } };
    const { raw: first } = await RawMqtt.connect(h.mqttPort, 5, session);
    first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'large/#', qos: 1 }] });
    await first.next('suback');
    const pub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    const payload = Buffer.alloc(20_000, 0x63);
    await Promise.all(
      Array.from({ length: 100 }, (_, i) => pub.publishAsync(`large/${i}`, payload, { qos: 1 })),
    );
    // Received, never acknowledged: 100 x 20 KB in flight, 30 times the budget.
    for (let i = 0; i < 100; i++) await first.next('publish', 10_000);
    first.destroy();
    await first.closed;
    await eventually(() => !h.server.mqtt?.sessions.get('resume-paced')?.connected, 'the session to detach');
    const { raw: again, connack } = await RawMqtt.connect(h.mqttPort, 5, session);
    assert.equal(connack.sessionPresent, true);
    const resent = new Set<string>();
    while (resent.size < 100) {
      const p = (await again.next('publish', 10_000)) as IPublishPacket;
      assert.equal(p.dup, true);
      assert.equal(p.payload.length, 20_000);
      resent.add(p.topic);
    }
    assert.equal(again.isClosed, false);
    assert.equal(await metric(h, 'pulse_slow_consumer_disconnects_total'), 0);
    again.destroy();
    await endAll(pub);
  });
});

test('a replay ends with its subscription, and goes on when a persistent session comes back', async () => {
  await withMqtt({ mqtt: { sys_interval_ms: 0, max_inflight_messages: 10 } }, async (h) => {
    await retainMany(h, 100, (i) => `part/${i}`, Buffer.from('p'), 1);
    const ackAll = (raw: RawMqtt, packets: IPublishPacket[]) => {
      for (const p of packets) raw.send({ cmd: 'puback', messageId: p.messageId });
    };
    const take = async (raw: RawMqtt, n: number) => {
      const got: IPublishPacket[] = [];
      for (let i = 0; i < n; i++) got.push((await raw.next('publish')) as IPublishPacket);
      return got;
    };

    // Unsubscribed after the first window: nothing more of the replay.
    const { raw: quitter } = await RawMqtt.connect(h.mqttPort, 5);
    quitter.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'part/#', qos: 1 }] });
    await quitter.next('suback');
    const window = await take(quitter, 10);
    quitter.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['part/#'] });
    await quitter.next('unsuback');
    ackAll(quitter, window);
    await quitter.nothingFor(200, 'publish');
    quitter.destroy();

    // A persistent session that leaves mid-replay gets the rest when it returns.
    const session = { clientId: 'replay-resume', clean: false, properties: { sessionExpiryInterval: 60 } };
    const { raw: first } = await RawMqtt.connect(h.mqttPort, 5, session);
    first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'part/#', qos: 1 }] });
    await first.next('suback');
    const seen = new Set((await take(first, 10)).map((p) => p.topic));
    first.destroy();
    await first.closed;
    await eventually(() => !h.server.mqtt?.sessions.get('replay-resume')?.connected, 'the session to detach');
    const { raw: back, connack } = await RawMqtt.connect(h.mqttPort, 5, session);
    assert.equal(connack.sessionPresent, true);
    let dups = 0;
    while (seen.size < 100) {
      const p = (await back.next('publish')) as IPublishPacket;
      if (p.dup) dups++;
      seen.add(p.topic);
      back.send({ cmd: 'puback', messageId: p.messageId });
    }
    assert.equal(dups, 10, 'the unacknowledged window again, with DUP');
    await back.nothingFor(100, 'publish');
    back.destroy();
  });
});
