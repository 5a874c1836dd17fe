import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import { test } from 'node:test';
import { sleep } from './helpers.js';
import { endAll, metric, mqttClient, mqttClientWithConnack, uniqueId, withMqtt } from './mqtt-helpers.js';

test('3.1.1 clean session 0: subscriptions and QoS 1/2 messages wait for the client; clean session 1 discards', async () => {
  await withMqtt({}, async (h) => {
    const clientId = uniqueId('persist');
    const first = await mqttClientWithConnack(h.tcpUrl, { protocolVersion: 4, clientId, clean: false });
    assert.equal(first.connack.sessionPresent, false, 'a new session');
    await first.client.subscribeAsync('sess/#', { qos: 2 });
    await first.client.endAsync();
    const pub = await mqttClient(h.tcpUrl, { protocolVersion: 4 });
    await pub.publishAsync('sess/a', 'zero', { qos: 0 });
    await pub.publishAsync('sess/a', 'one', { qos: 1 });
    await pub.publishAsync('sess/b', 'two', { qos: 2 });
    assert.equal(await metric(h, 'pulse_mqtt_queued'), 2, 'QoS 1 and 2 wait; QoS 0 does not');
    // Back over WebSocket this time: the same session.
    const back = await mqttClientWithConnack(h.mqttWsUrl, { protocolVersion: 4, clientId, clean: false });
    assert.equal(back.connack.sessionPresent, true);
    const got = await back.client.inbox.waitFor(2);
    assert.deepEqual(
      got.map((m) => [m.topic, m.payload.toString(), m.packet.qos]),
      [
        ['sess/a', 'one', 1],
        ['sess/b', 'two', 2],
      ],
    );
    // The subscription is still there without subscribing again.
    await pub.publishAsync('sess/c', 'live', { qos: 0 });
    assert.equal(at(await back.client.inbox.waitFor(3), 2).payload.toString(), 'live');
    await back.client.endAsync();
    // Clean session 1: no session present, nothing kept, and none afterwards.
    const clean = await mqttClientWithConnack(h.tcpUrl, { protocolVersion: 4, clientId, clean: true });
    assert.equal(clean.connack.sessionPresent, false);
    await pub.publishAsync('sess/d', 'gone', { qos: 1 });
    await sleep(100);
    assert.equal(clean.client.inbox.items.length, 0, 'the old subscriptions were discarded');
    await clean.client.endAsync();
    const after = await mqttClientWithConnack(h.tcpUrl, { protocolVersion: 4, clientId, clean: false });
    assert.equal(after.connack.sessionPresent, false, 'a clean session ends with its connection');
    await endAll(after.client, pub);
  });
});

test('v5 session expiry interval: the session outlives the connection for that long, then ends', async () => {
  await withMqtt({}, async (h) => {
    const pub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    const ids = { zero: uniqueId('zero'), soon: uniqueId('soon'), late: uniqueId('late') };
    const open = async (clientId: string, sessionExpiryInterval: number) => {
      const c = await mqttClient(h.tcpUrl, {
        protocolVersion: 5,
        clientId,
        clean: true,
        properties: { sessionExpiryInterval },
      });
      await c.subscribeAsync(`exp/${clientId}`, { qos: 1 });
      await c.endAsync();
    };
    await open(ids.zero, 0);
    await open(ids.soon, 1);
    await open(ids.late, 1);
    const t0 = Date.now();
    for (const id of Object.values(ids)) await pub.publishAsync(`exp/${id}`, 'queued', { qos: 1 });
    const reconnect = (clientId: string) =>
      mqttClientWithConnack(h.tcpUrl, {
        protocolVersion: 5,
        clientId,
        clean: false,
        properties: { sessionExpiryInterval: 10 },
      });
    const zero = await reconnect(ids.zero);
    assert.equal(zero.connack.sessionPresent, false, 'expiry 0: ended with the connection');
    const soon = await reconnect(ids.soon);
    assert.equal(soon.connack.sessionPresent, true, 'within the expiry interval');
    assert.equal(at(await soon.client.inbox.waitFor(1), 0).payload.toString(), 'queued');
    await sleep(1150 - (Date.now() - t0));
    const late = await reconnect(ids.late);
    assert.equal(late.connack.sessionPresent, false, 'past the expiry interval');
    await sleep(50);
    assert.equal(late.client.inbox.items.length + zero.client.inbox.items.length, 0);
    // Clean start on an existing session: not present, its queue and subscriptions are gone.
    await soon.client.endAsync();
    await pub.publishAsync(`exp/${ids.soon}`, 'discarded', { qos: 1 });
    const restart = await mqttClientWithConnack(h.tcpUrl, {
      protocolVersion: 5,
      clientId: ids.soon,
      clean: true,
    });
    assert.equal(restart.connack.sessionPresent, false);
    await pub.publishAsync(`exp/${ids.soon}`, 'not subscribed', { qos: 1 });
    await sleep(100);
    assert.equal(restart.client.inbox.items.length, 0);
    await endAll(pub, zero.client, late.client, restart.client);
  });
});

test('a session that ends with its connection ends on takeover too: session present 0', async () => {
  await withMqtt({}, async (h) => {
    for (const version of [4, 5] as const) {
      const clientId = uniqueId('ends');
      // 3.1.1 clean session 1, v5 session expiry 0: the session lives as long as the connection.
      const a = await mqttClient(h.tcpUrl, { protocolVersion: version, clientId, clean: true });
      await a.subscribeAsync('ends/old', { qos: 1 });
      const b = await mqttClientWithConnack(h.tcpUrl, { protocolVersion: version, clientId, clean: false });
      assert.equal(b.connack.sessionPresent, false, `v${version}`);
      const pub = await mqttClient(h.tcpUrl);
      await pub.publishAsync('ends/old', 'x', { qos: 1 });
      await sleep(100);
      assert.equal(b.client.inbox.items.length, 0, 'the old subscriptions are not carried over');
      await endAll(a, b.client, pub);
    }
  });
});

test('the offline queue is bounded by mqtt.max_queued_messages (oldest dropped, counted)', async () => {
  await withMqtt({ mqtt: { max_queued_messages: 3 } }, async (h) => {
    const clientId = uniqueId('bounded');
    const opts = {
      protocolVersion: 5 as const,
      clientId,
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    };
    const c = await mqttClient(h.tcpUrl, opts);
    await c.subscribeAsync('bq', { qos: 1 });
    await c.endAsync();
    const pub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    for (let i = 0; i < 5; i++) await pub.publishAsync('bq', `m${i}`, { qos: 1 });
    assert.equal(await metric(h, 'pulse_mqtt_queued'), 3);
    assert.equal(await metric(h, 'pulse_mqtt_dropped_total{reason="queue_full"}'), 2);
    assert.equal(await metric(h, 'pulse_mqtt_sessions'), 2, 'the offline session and the publisher');
    const back = await mqttClient(h.tcpUrl, opts);
    await back.inbox.waitFor(3);
    await sleep(50);
    assert.deepEqual(
      back.inbox.items.map((m) => m.payload.toString()),
      ['m2', 'm3', 'm4'],
    );
    await endAll(back, pub);
  });
  // QoS 0 is kept for offline sessions only when mqtt.queue_qos0_offline says so.
  await withMqtt({ mqtt: { queue_qos0_offline: true } }, async (h) => {
    const clientId = uniqueId('q0');
    const c = await mqttClient(h.tcpUrl, { protocolVersion: 4, clientId, clean: false });
    await c.subscribeAsync('q0', { qos: 1 });
    await c.endAsync();
    const pub = await mqttClient(h.tcpUrl);
    await pub.publishAsync('q0', 'kept', { qos: 0 });
    await sleep(20);
    const back = await mqttClient(h.tcpUrl, { protocolVersion: 4, clientId, clean: false });
    const [m] = await back.inbox.waitFor(1);
    assert.ok(m !== undefined);
    assert.equal(m.payload.toString(), 'kept');
    assert.equal(m.packet.qos, 0);
    await endAll(back, pub);
  });
});
