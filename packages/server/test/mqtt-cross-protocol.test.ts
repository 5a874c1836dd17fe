import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import { test } from 'node:test';
import type { Publication } from '@pulse/client';
import { Inbox, metricValue, scrape, sleep, tcpClient, wsClient } from './helpers.js';
import { endAll, mqttClient, withMqtt } from './mqtt-helpers.js';

/** Every byte value, and a NUL in the middle of a UTF-8 string. */
const BYTES = Buffer.concat([
  Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
  Buffer.from('h\u0000é✓'),
]);

test('an MQTT publication reaches native WebSocket and TCP subscribers with its payload bytes unchanged', async () => {
  await withMqtt({}, async (h) => {
    const nativeWs = await wsClient(h);
    const nativeTcp = await tcpClient(h);
    const wsInbox = new Inbox<Publication>();
    const tcpInbox = new Inbox<Publication>();
    const wildInbox = new Inbox<Publication>();
    await nativeWs.subscribe('chat:lobby', wsInbox.push);
    await nativeTcp.subscribe('chat:lobby', tcpInbox.push);
    await nativeTcp.subscribe('dev/+/temp', wildInbox.push);
    const publishers = [
      await mqttClient(h.tcpUrl, { protocolVersion: 4 }),
      await mqttClient(h.tcpUrl, { protocolVersion: 5 }),
      await mqttClient(h.mqttWsUrl, { protocolVersion: 5 }),
    ];
    let n = 0;
    for (const pub of publishers) {
      for (const qos of [0, 1, 2] as const) {
        await pub.publishAsync('chat:lobby', BYTES, {
          qos,
          properties: pub.options.protocolVersion === 5 ? { contentType: 'bin' } : undefined,
        });
        n++;
      }
    }
    await at(publishers, 0).publishAsync('dev/kitchen/temp', '21.5', { qos: 1 });
    await at(publishers, 0).publishAsync('dev/kitchen/humidity', '40', { qos: 1 });
    for (const inbox of [wsInbox, tcpInbox]) {
      const got = await inbox.waitFor(n);
      for (const p of got) {
        assert.equal(p.channel, 'chat:lobby');
        assert.deepEqual(Buffer.from(p.payload), BYTES);
      }
    }
    const [wild] = await wildInbox.waitFor(1);
    assert.ok(wild !== undefined);
    await sleep(50);
    assert.equal(wildInbox.items.length, 1, 'the native wildcard matched one level');
    assert.equal(wild.channel, 'dev/kitchen/temp');
    assert.equal(Buffer.from(wild.payload).toString(), '21.5');
    await nativeWs.close();
    await nativeTcp.close();
    await endAll(...publishers);
  });
});

test('a native publication reaches MQTT subscribers (3.1.1 and 5.0, TCP and WebSocket, wildcards, shared)', async () => {
  await withMqtt({}, async (h) => {
    const exact4 = await mqttClient(h.tcpUrl, { protocolVersion: 4 });
    const exact5 = await mqttClient(h.mqttWsUrl, { protocolVersion: 5 });
    const plus = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    const hash = await mqttClient(h.mqttWsUrl, { protocolVersion: 4 });
    const shared = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await exact4.subscribeAsync('sensors/kitchen/temp', { qos: 1 });
    await exact5.subscribeAsync('sensors/kitchen/temp', { qos: 2 });
    await plus.subscribeAsync('sensors/+/temp', { qos: 0 });
    await hash.subscribeAsync('#', { qos: 1 });
    await shared.subscribeAsync('$share/g/sensors/#', { qos: 1 });
    const nativeWs = await wsClient(h);
    const nativeTcp = await tcpClient(h);
    await nativeWs.publish('sensors/kitchen/temp', BYTES);
    await nativeTcp.publish('sensors/kitchen/temp', 'from tcp');
    await nativeTcp.publish('sensors/hall/humidity', 'not for +/temp');
    await nativeWs.publish('chat:lobby', 'hello');
    for (const c of [exact4, exact5]) {
      const got = await c.inbox.waitFor(2);
      assert.deepEqual(at(got, 0).payload, BYTES);
      assert.equal(at(got, 0).topic, 'sensors/kitchen/temp');
      assert.equal(at(got, 0).packet.qos, 0, 'native publications are QoS 0');
      assert.equal(at(got, 1).payload.toString(), 'from tcp');
    }
    const all = await hash.inbox.waitFor(4);
    assert.deepEqual(
      all.map((m) => m.topic),
      ['sensors/kitchen/temp', 'sensors/kitchen/temp', 'sensors/hall/humidity', 'chat:lobby'],
    );
    await shared.inbox.waitFor(3);
    await sleep(50);
    assert.deepEqual(
      plus.inbox.items.map((m) => m.payload.toString('latin1').slice(0, 4)),
      [BYTES.toString('latin1').slice(0, 4), 'from'],
    );
    assert.equal(shared.inbox.items.length, 3);
    // And back: an MQTT client answers a native one on the same channel.
    const replies = new Inbox<Publication>();
    await nativeWs.subscribe('chat:lobby', replies.push);
    hash.on('message', (topic, payload) => {
      if (topic === 'chat:lobby' && payload.toString() === 'hello') hash.publish('chat:lobby', 'hi native');
    });
    await nativeTcp.publish('chat:lobby', 'hello');
    const [reply] = (await replies.waitFor(2)).slice(1);
    assert.ok(reply !== undefined);
    assert.equal(Buffer.from(reply.payload).toString(), 'hi native');
    await nativeWs.close();
    await nativeTcp.close();
    await endAll(exact4, exact5, plus, hash, shared);
  });
});

test('MQTT publications (QoS 0 and 1, and a will) that reach a subscriber count in pulse_publish_latency_seconds; one reaching nobody does not', async () => {
  await withMqtt({}, async (h) => {
    const latencyCount = async () => metricValue(await scrape(h), 'pulse_publish_latency_seconds_count');
    const subscriber = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await subscriber.subscribeAsync('lat/#', { qos: 1 });
    const publisher = await mqttClient(h.tcpUrl, {
      protocolVersion: 4,
      will: { topic: 'lat/will', payload: Buffer.from('gone'), qos: 1, retain: false },
    });
    const before = await latencyCount();
    await publisher.publishAsync('nobody/here', 'x', { qos: 1 });
    await publisher.publishAsync('lat/zero', 'a', { qos: 0 });
    await publisher.publishAsync('lat/one', 'b', { qos: 1 });
    await subscriber.inbox.waitFor(2);
    assert.equal(await latencyCount(), before + 2, 'one observation per publication that reached someone');
    publisher.stream.destroy();
    const got = await subscriber.inbox.waitFor(3);
    assert.equal(at(got, 2).topic, 'lat/will');
    assert.equal(await latencyCount(), before + 3, 'the will is a client publication too');
    await endAll(subscriber, publisher);
  });
});
