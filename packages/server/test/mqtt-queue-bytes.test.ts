import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sleep } from './helpers.js';
import { endAll, metric, mqttClient, uniqueId, withMqtt } from './mqtt-helpers.js';

const KIB_50 = 50 * 1024;
/** What one queued message counts: its payload and its topic (as `heldBytes` counts them). */
const queuedSize = (topic: string) => KIB_50 + topic.length;

function persistent(clientId: string) {
  return { protocolVersion: 5 as const, clientId, clean: false, properties: { sessionExpiryInterval: 60 } };
}

async function offlineSubscriber(url: string, clientId: string, topic: string): Promise<void> {
  const c = await mqttClient(url, persistent(clientId));
  await c.subscribeAsync(topic, { qos: 1 });
  await c.endAsync();
}

const payload = (i: number) => Buffer.alloc(KIB_50, i);

test('mqtt.max_queued_bytes bounds one offline session: the oldest are dropped, counted', async () => {
  // Four 50 KiB messages fit, a fifth does not (20 are published).
  const limit = 4 * queuedSize('qb') + 1000;
  await withMqtt({ mqtt: { max_queued_bytes: limit } }, async (h) => {
    const clientId = uniqueId('qbytes');
    await offlineSubscriber(h.tcpUrl, clientId, 'qb');
    const pub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    for (let i = 0; i < 20; i++) await pub.publishAsync('qb', payload(i), { qos: 1 });
    assert.equal(await metric(h, 'pulse_mqtt_queued'), 4);
    assert.equal(await metric(h, 'pulse_mqtt_queued_bytes'), 4 * queuedSize('qb'));
    assert.equal(await metric(h, 'pulse_mqtt_dropped_total{reason="queue_bytes"}'), 16);
    const back = await mqttClient(h.tcpUrl, persistent(clientId));
    await back.inbox.waitFor(4);
    await sleep(100);
    assert.deepEqual(
      back.inbox.items.map((m) => m.payload[0]),
      [16, 17, 18, 19],
      'the newest kept, as for mqtt.max_queued_messages',
    );
    assert.ok(back.inbox.items.every((m) => m.payload.length === KIB_50));
    assert.equal(await metric(h, 'pulse_mqtt_queued_bytes'), 0, 'sent messages leave the count');
    await endAll(back, pub);
  });
});

test('mqtt.max_queued_bytes_total bounds all sessions together: past it the new message is dropped, and sent ones free room', async () => {
  const limit = 5 * queuedSize('ta') + 1000;
  await withMqtt({ mqtt: { max_queued_bytes_total: limit } }, async (h) => {
    const a = uniqueId('qtotal-a');
    const b = uniqueId('qtotal-b');
    await offlineSubscriber(h.tcpUrl, a, 'ta');
    await offlineSubscriber(h.tcpUrl, b, 'tb');
    const pub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    for (let i = 0; i < 4; i++) await pub.publishAsync('ta', payload(i), { qos: 1 });
    for (let i = 0; i < 4; i++) await pub.publishAsync('tb', payload(10 + i), { qos: 1 });
    assert.equal(await metric(h, 'pulse_mqtt_queued'), 5, 'four for a, one for b');
    assert.equal(await metric(h, 'pulse_mqtt_dropped_total{reason="queue_bytes_total"}'), 3);

    const backA = await mqttClient(h.tcpUrl, persistent(a));
    await backA.inbox.waitFor(4);
    await sleep(100);
    assert.deepEqual(
      backA.inbox.items.map((m) => m.payload[0]),
      [0, 1, 2, 3],
    );
    assert.equal(await metric(h, 'pulse_mqtt_queued_bytes'), queuedSize('tb'), "a's messages left the total");
    // Room again for b's queue.
    await pub.publishAsync('tb', payload(20), { qos: 1 });
    const backB = await mqttClient(h.tcpUrl, persistent(b));
    await backB.inbox.waitFor(2);
    await sleep(100);
    assert.deepEqual(
      backB.inbox.items.map((m) => m.payload[0]),
      [10, 20],
      'the oldest kept past the total, as for storage.max_stored_messages',
    );
    await endAll(backA, backB, pub);
  });
});

test('a session taken over by a clean start gives its queued bytes back to the total', async () => {
  await withMqtt({ mqtt: { max_queued_bytes_total: 2 * queuedSize('tc') + 1000 } }, async (h) => {
    const clientId = uniqueId('qtake');
    await offlineSubscriber(h.tcpUrl, clientId, 'tc');
    const pub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    for (let i = 0; i < 2; i++) await pub.publishAsync('tc', payload(i), { qos: 1 });
    assert.equal(await metric(h, 'pulse_mqtt_queued_bytes'), 2 * queuedSize('tc'));
    const fresh = await mqttClient(h.tcpUrl, { protocolVersion: 5, clientId, clean: true });
    await sleep(50);
    assert.equal(await metric(h, 'pulse_mqtt_queued_bytes'), 0);
    await endAll(fresh, pub);
  });
});
