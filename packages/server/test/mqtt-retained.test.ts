import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import { test } from 'node:test';
import type { IPubackPacket } from 'mqtt-packet';
import { sleep } from './helpers.js';
import { RawMqtt, endAll, metric, mqttClient, withMqtt } from './mqtt-helpers.js';

test('retained: set, replay with the retain flag, replace, clear with an empty payload', async () => {
  await withMqtt({ mqtt: { sys_interval_ms: 0 } }, async (h) => {
    const pub = await mqttClient(h.tcpUrl, { protocolVersion: 4 });
    await pub.publishAsync('ret/a', 'first', { qos: 1, retain: true });
    await pub.publishAsync('ret/a', 'second', { qos: 1, retain: true });
    await pub.publishAsync('ret/b', Buffer.from([0, 255]), { qos: 2, retain: true });
    await pub.publishAsync('ret/c/deep', 'deep', { qos: 0, retain: true });
    await pub.publishAsync('ret/not', 'not retained', { qos: 1 });
    assert.equal(await metric(h, 'pulse_mqtt_retained'), 3);

    for (const version of [4, 5] as const) {
      const sub = await mqttClient(h.mqttWsUrl, { protocolVersion: version });
      await sub.subscribeAsync('ret/+', { qos: 2 });
      const got = await sub.inbox.waitFor(2);
      await sleep(50);
      assert.equal(sub.inbox.items.length, 2, 'ret/+ matches two retained messages');
      const byTopic = Object.fromEntries(got.map((m) => [m.topic, m]));
      const [a, b] = [byTopic['ret/a'], byTopic['ret/b']];
      assert.ok(a !== undefined && b !== undefined, `retained ret/a and ret/b, got ${Object.keys(byTopic)}`);
      assert.equal(a.payload.toString(), 'second', 'replaced');
      assert.deepEqual(b.payload, Buffer.from([0, 255]));
      assert.ok(
        got.every((m) => m.packet.retain),
        'replayed with the retain flag',
      );
      assert.equal(a.packet.qos, 1, 'at the QoS it was published with');
      assert.equal(b.packet.qos, 2);
      await endAll(sub);
    }
    const low = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await low.subscribeAsync('ret/#', { qos: 0 });
    const all = await low.inbox.waitFor(3);
    assert.ok(
      all.every((m) => m.packet.qos === 0),
      'downgraded to the subscription QoS',
    );

    // An empty retained payload clears, and is still delivered to current subscribers.
    await pub.publishAsync('ret/a', '', { qos: 1, retain: true });
    const [cleared] = (await low.inbox.waitFor(4)).slice(3);
    assert.ok(cleared !== undefined);
    assert.equal(cleared.topic, 'ret/a');
    assert.equal(cleared.payload.length, 0);
    assert.equal(await metric(h, 'pulse_mqtt_retained'), 2);
    const after = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await after.subscribeAsync('ret/#', { qos: 1 });
    await after.inbox.waitFor(2);
    await sleep(50);
    assert.deepEqual(after.inbox.items.map((m) => m.topic).sort(), ['ret/b', 'ret/c/deep']);
    // Exact filter: the single retained message.
    const exact = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await exact.subscribeAsync('ret/c/deep', { qos: 1 });
    assert.equal(at(await exact.inbox.waitFor(1), 0).payload.toString(), 'deep');
    await endAll(pub, low, after, exact);
  });
});

test('retained (v5): properties are kept, replay carries the subscription identifier', async () => {
  await withMqtt({}, async (h) => {
    const pub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    const properties = {
      contentType: 'text/plain',
      userProperties: { k: 'v' },
      responseTopic: 'r/t',
      correlationData: Buffer.from([9]),
    };
    await pub.publishAsync('retp/t', 'with props', { qos: 1, retain: true, properties });
    const sub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await sub.subscribeAsync('retp/#', { qos: 1, properties: { subscriptionIdentifier: 11 } });
    const [m] = await sub.inbox.waitFor(1);
    assert.ok(m !== undefined);
    const p = m.packet.properties ?? {};
    assert.equal(p.contentType, 'text/plain');
    assert.deepEqual({ ...p.userProperties }, { k: 'v' });
    assert.equal(p.responseTopic, 'r/t');
    assert.deepEqual(p.correlationData, Buffer.from([9]));
    assert.equal(p.subscriptionIdentifier, 11);
    assert.equal(m.packet.retain, true);
    await endAll(pub, sub);
  });
});

test('retained: message expiry is honoured on replay and the interval is counted down', async () => {
  await withMqtt({}, async (h) => {
    const pub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await pub.publishAsync('exp/short', 'short', {
      qos: 1,
      retain: true,
      properties: { messageExpiryInterval: 1 },
    });
    await pub.publishAsync('exp/long', 'long', {
      qos: 1,
      retain: true,
      properties: { messageExpiryInterval: 3 },
    });
    await pub.publishAsync('exp/forever', 'forever', { qos: 1, retain: true });
    const early = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await early.subscribeAsync('exp/#', { qos: 1 });
    await early.inbox.waitFor(3);
    const e = Object.fromEntries(
      early.inbox.items.map((m) => [m.topic, m.packet.properties?.messageExpiryInterval]),
    );
    assert.deepEqual(e, { 'exp/short': 1, 'exp/long': 3, 'exp/forever': undefined });
    await sleep(1100);
    const late = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await late.subscribeAsync('exp/#', { qos: 1 });
    await late.inbox.waitFor(2);
    await sleep(50);
    const l = Object.fromEntries(
      late.inbox.items.map((m) => [m.topic, m.packet.properties?.messageExpiryInterval]),
    );
    assert.deepEqual(
      l,
      { 'exp/long': 2, 'exp/forever': undefined },
      'expired one gone, the other counted down',
    );
    // 3.1.1 subscribers get no properties, but expiry still applies.
    const v4 = await mqttClient(h.tcpUrl, { protocolVersion: 4 });
    await v4.subscribeAsync('exp/#', { qos: 1 });
    await v4.inbox.waitFor(2);
    await sleep(50);
    assert.deepEqual(v4.inbox.items.map((m) => m.topic).sort(), ['exp/forever', 'exp/long']);
    await endAll(pub, early, late, v4);
  });
});

test('mqtt.max_retained_messages: a new retained topic past the limit is refused with 0x97', async () => {
  // $SYS topics are published (retained) every 50 ms: they must not use up the clients' quota.
  await withMqtt({ mqtt: { max_retained_messages: 2, sys_interval_ms: 50 } }, async (h) => {
    const pub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    const t0 = Date.now();
    await pub.publishAsync('lim/expiring', 'e', {
      qos: 1,
      retain: true,
      properties: { messageExpiryInterval: 1 },
    });
    await pub.publishAsync('lim/1', 'a', { qos: 1, retain: true });
    await assert.rejects(pub.publishAsync('lim/2', 'b', { qos: 1, retain: true }), { code: 0x97 });
    // Once expired, a retained message no longer takes a place.
    await sleep(1050 - (Date.now() - t0));
    await pub.publishAsync('lim/2', 'b', { qos: 1, retain: true });
    const { raw } = await RawMqtt.connect(h.mqttPort, 5);
    raw.send({
      cmd: 'publish',
      topic: 'lim/3',
      payload: Buffer.from('c'),
      qos: 1,
      messageId: 1,
      retain: true,
      dup: false,
    });
    const refused = (await raw.next('puback')) as IPubackPacket;
    assert.equal(refused.reasonCode, 0x97);
    assert.match(String(refused.properties?.reasonString), /retained/);
    // Replacing and clearing stay possible; a cleared slot can be used again.
    raw.send({
      cmd: 'publish',
      topic: 'lim/1',
      payload: Buffer.from('a2'),
      qos: 1,
      messageId: 2,
      retain: true,
      dup: false,
    });
    assert.equal(((await raw.next('puback')) as IPubackPacket).reasonCode ?? 0, 0x10);
    raw.send({
      cmd: 'publish',
      topic: 'lim/2',
      payload: Buffer.alloc(0),
      qos: 1,
      messageId: 3,
      retain: true,
      dup: false,
    });
    assert.equal(((await raw.next('puback')) as IPubackPacket).reasonCode ?? 0, 0x10);
    raw.send({
      cmd: 'publish',
      topic: 'lim/3',
      payload: Buffer.from('c'),
      qos: 1,
      messageId: 4,
      retain: true,
      dup: false,
    });
    assert.equal(((await raw.next('puback')) as IPubackPacket).reasonCode ?? 0, 0x10);
    // QoS 0 past the limit: dropped, counted; 3.1.1 QoS 1: the connection is closed.
    raw.send({ cmd: 'publish', topic: 'lim/4', payload: Buffer.from('d'), qos: 0, retain: true, dup: false });
    const { raw: v4 } = await RawMqtt.connect(h.mqttPort, 4);
    v4.send({
      cmd: 'publish',
      topic: 'lim/5',
      payload: Buffer.from('e'),
      qos: 1,
      messageId: 1,
      retain: true,
      dup: false,
    });
    await v4.expectClosed();
    const sub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await sub.subscribeAsync('lim/#', { qos: 1 });
    await sub.inbox.waitFor(2);
    await sleep(50);
    assert.deepEqual(sub.inbox.items.map((m) => `${m.topic}=${m.payload}`).sort(), ['lim/1=a2', 'lim/3=c']);
    assert.equal(await metric(h, 'pulse_mqtt_publish_refused_total{reason="0x97"}'), 4);
    raw.destroy();
    await endAll(pub, sub);
  });
});
