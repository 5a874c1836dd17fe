import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import { test } from 'node:test';
import type { IDisconnectPacket, IPubackPacket, IPublishPacket, IPubrecPacket } from 'mqtt-packet';
import { sleep } from './helpers.js';
import { RawMqtt, endAll, metric, mqttClient, uniqueId, withMqtt } from './mqtt-helpers.js';

const publish = (
  topic: string,
  payload: string | Buffer,
  fields: Partial<IPublishPacket> = {},
): IPublishPacket => ({
  cmd: 'publish',
  topic,
  payload: Buffer.from(payload),
  qos: 0,
  dup: false,
  retain: false,
  ...fields,
});

test('topic aliases from the client: set, used, remapped; 0, above the maximum or unknown are errors', async () => {
  await withMqtt({ mqtt: { topic_alias_maximum: 4 } }, async (h) => {
    const sub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await sub.subscribeAsync('ta/#', { qos: 1 });
    const { raw, connack } = await RawMqtt.connect(h.mqttPort, 5);
    assert.equal(connack.properties?.topicAliasMaximum, 4);
    raw.send(publish('ta/x', '1', { properties: { topicAlias: 1 } }));
    raw.send(publish('', '2', { properties: { topicAlias: 1 } }));
    raw.send(publish('ta/y', '3', { properties: { topicAlias: 1 } }));
    raw.send(publish('', '4', { qos: 1, messageId: 1, properties: { topicAlias: 1 } }));
    raw.send(publish('ta/z', '5', { properties: { topicAlias: 4 } }));
    raw.send(publish('', '6', { qos: 2, messageId: 2, properties: { topicAlias: 4 } }));
    await raw.next('puback');
    await raw.next('pubrec');
    const got = await sub.inbox.waitFor(6);
    assert.deepEqual(
      got.map((m) => `${m.topic}:${m.payload}`),
      ['ta/x:1', 'ta/x:2', 'ta/y:3', 'ta/y:4', 'ta/z:5', 'ta/z:6'],
    );
    assert.ok(
      got.every((m) => m.packet.properties?.topicAlias === undefined),
      'the alias does not travel on',
    );
    raw.destroy();

    const expectError = async (packet: IPublishPacket, reason: number, what: string) => {
      const { raw: r } = await RawMqtt.connect(h.mqttPort, 5);
      r.send(packet);
      const d = await r.expectDisconnect(reason);
      assert.ok(d.properties?.reasonString, `${what}: a reason string`);
    };
    await expectError(publish('ta/x', 'x', { properties: { topicAlias: 5 } }), 0x94, 'above the maximum');
    await expectError(publish('ta/x', 'x', { properties: { topicAlias: 0 } }), 0x94, 'alias 0');
    await expectError(
      publish('', 'x', { properties: { topicAlias: 1 } }),
      0x82,
      'aliases are per connection',
    );
    await expectError(publish('', 'x'), 0x82, 'empty topic without an alias');
    assert.equal(sub.inbox.items.length, 6);
    await endAll(sub);
  });
  await withMqtt({ mqtt: { topic_alias_maximum: 0 } }, async (h) => {
    const { raw, connack } = await RawMqtt.connect(h.mqttPort, 5);
    assert.ok(!connack.properties?.topicAliasMaximum, 'no aliases offered');
    raw.send(publish('t', 'x', { properties: { topicAlias: 1 } }));
    await raw.expectDisconnect(0x94);
  });
});

test("topic aliases towards the client, up to the client's topic alias maximum", async () => {
  await withMqtt({}, async (h) => {
    const { raw } = await RawMqtt.connect(h.mqttPort, 5, {
      properties: { topicAliasMaximum: 2, maximumPacketSize: 200 },
    });
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'al/#', qos: 1 }] });
    await raw.next('suback');
    const mqttjs = await mqttClient(h.tcpUrl, { protocolVersion: 5, properties: { topicAliasMaximum: 3 } });
    await mqttjs.subscribeAsync('al/#', { qos: 1 });
    const v4 = await mqttClient(h.tcpUrl, { protocolVersion: 4 });
    await v4.subscribeAsync('al/#', { qos: 1 });
    const pub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    // al/big is first seen in a packet too large for the raw client: dropped, so no alias is set up.
    const sequence: [string, string][] = [
      ['al/big', 'x'.repeat(300)],
      ['al/big', 'small'],
      ['al/big', 'again'],
      ['al/a', '1'],
      ['al/a', '2'],
      ['al/b', '3'],
      ['al/a', '4'],
    ];
    for (const [t, p] of sequence) await pub.publishAsync(t, p, { qos: 1 });
    const seen: [string, number | undefined, string][] = [];
    for (let i = 0; i < sequence.length - 1; i++) {
      const p = (await raw.next('publish')) as IPublishPacket;
      seen.push([p.topic, p.properties?.topicAlias, p.payload.toString()]);
      raw.send({ cmd: 'puback', messageId: p.messageId });
    }
    assert.deepEqual(seen, [
      ['al/big', 1, 'small'],
      ['', 1, 'again'],
      ['al/a', 2, '1'],
      ['', 2, '2'],
      ['al/b', undefined, '3'], // both aliases taken
      ['', 2, '4'],
    ]);
    // MQTT.js resolves the aliases to the right topics; other clients never see an alias.
    for (const c of [mqttjs, v4]) {
      const got = await c.inbox.waitFor(sequence.length);
      assert.deepEqual(
        got.map((m) => [m.topic, m.payload.toString()]),
        sequence,
      );
    }
    assert.ok(v4.inbox.items.every((m) => m.packet.properties === undefined));
    assert.ok(await metric(h, 'pulse_mqtt_dropped_total{reason="too_large"}'), 'counted as dropped');
    raw.destroy();
    await endAll(mqttjs, v4, pub);
  });
});

test('message expiry: counted down on delivery, expired messages dropped from session queues', async () => {
  await withMqtt({}, async (h) => {
    const live = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await live.subscribeAsync('mx/#', { qos: 1 });
    const clientId = uniqueId('offline');
    const fields = { clientId, clean: false, properties: { sessionExpiryInterval: 60 } };
    const { raw } = await RawMqtt.connect(h.mqttPort, 5, fields);
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'mx/#', qos: 2 }] });
    await raw.next('suback');
    raw.send({ cmd: 'disconnect', reasonCode: 0 });
    await raw.closed;
    const pub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    const t0 = Date.now();
    await pub.publishAsync('mx/short', 'short', { qos: 1, properties: { messageExpiryInterval: 1 } });
    await pub.publishAsync('mx/long', 'long', { qos: 2, properties: { messageExpiryInterval: 3 } });
    await pub.publishAsync('mx/none', 'none', { qos: 1 });
    const now = await live.inbox.waitFor(3);
    assert.deepEqual(
      now.map((m) => m.packet.properties?.messageExpiryInterval),
      [1, 3, undefined],
    );
    const droppedBefore = await metric(h, 'pulse_mqtt_dropped_total{reason="expired"}');
    await sleep(1100 - (Date.now() - t0));
    const { raw: back, connack } = await RawMqtt.connect(h.mqttPort, 5, fields);
    assert.equal(connack.sessionPresent, true);
    const a = (await back.next('publish')) as IPublishPacket;
    const b = (await back.next('publish')) as IPublishPacket;
    assert.deepEqual(
      [a, b].map((p) => [p.topic, p.properties?.messageExpiryInterval]),
      [
        ['mx/long', 2],
        ['mx/none', undefined],
      ],
    );
    back.send({ cmd: 'pubrec', messageId: a.messageId });
    back.send({ cmd: 'puback', messageId: b.messageId });
    await back.nothingFor(100, 'publish');
    assert.equal(await metric(h, 'pulse_mqtt_dropped_total{reason="expired"}'), droppedBefore + 1);
    back.destroy();
    await endAll(live, pub);
  });
});

test('user properties, content type, response topic, correlation data and payload format pass through untouched', async () => {
  await withMqtt({}, async (h) => {
    const plain = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await plain.subscribeAsync('props/#', { qos: 2 });
    const withId = await mqttClient(h.mqttWsUrl, {
      protocolVersion: 5,
      properties: { topicAliasMaximum: 5 },
    });
    await withId.subscribeAsync('props/#', { qos: 2, properties: { subscriptionIdentifier: 42 } });
    const v4 = await mqttClient(h.tcpUrl, { protocolVersion: 4 });
    await v4.subscribeAsync('props/#', { qos: 2 });
    const pub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    const properties = {
      payloadFormatIndicator: true,
      contentType: 'application/json; charset=utf-8',
      responseTopic: 'props/replies/ü',
      correlationData: Buffer.from([0, 1, 2, 250, 255]),
      userProperties: { trace: 'abc', multi: ['1', '2', '3'], ключ: 'значение' },
    };
    const payload = JSON.stringify({ hello: 'wörld' });
    for (const qos of [0, 1, 2] as const) {
      await pub.publishAsync(`props/q${qos}`, payload, { qos, properties });
    }
    for (const c of [plain, withId]) {
      const got = await c.inbox.waitFor(3);
      for (const m of got) {
        const p = m.packet.properties ?? {};
        assert.equal(m.payload.toString(), payload);
        assert.equal(p.payloadFormatIndicator, true);
        assert.equal(p.contentType, properties.contentType);
        assert.equal(p.responseTopic, properties.responseTopic);
        assert.deepEqual(p.correlationData, properties.correlationData);
        assert.deepEqual({ ...p.userProperties }, properties.userProperties);
        // Per-subscriber properties stay with their subscriber.
        assert.equal(p.subscriptionIdentifier, c === withId ? 42 : undefined, `${m.topic}`);
        if (c === plain) assert.equal(p.topicAlias, undefined);
      }
    }
    const old = await v4.inbox.waitFor(3);
    assert.ok(old.every((m) => m.payload.toString() === payload && m.packet.properties === undefined));
    // Request / response: the responder answers on the response topic with the correlation data.
    const requester = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await requester.subscribeAsync('rr/reply/me', { qos: 1 });
    const responder = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await responder.subscribeAsync('rr/request', { qos: 1 });
    responder.on('message', (_t, msg, packet) => {
      const pp = packet.properties ?? {};
      responder.publish(pp.responseTopic as string, `re: ${msg}`, {
        qos: 1,
        properties: { correlationData: pp.correlationData },
      });
    });
    await requester.publishAsync('rr/request', 'ping', {
      qos: 1,
      properties: { responseTopic: 'rr/reply/me', correlationData: Buffer.from('id-7') },
    });
    const [reply] = await requester.inbox.waitFor(1);
    assert.ok(reply !== undefined);
    assert.equal(reply.payload.toString(), 're: ping');
    assert.deepEqual(reply.packet.properties?.correlationData, Buffer.from('id-7'));
    await endAll(plain, withId, v4, pub, requester, responder);
  });
});

test('payload format indicator: a payload that is not UTF-8 is refused with 0x99 (QoS 0: DISCONNECT 0x99), never delivered', async () => {
  await withMqtt({}, async (h) => {
    const sub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await sub.subscribeAsync('pfi/#', { qos: 2 });
    const { raw } = await RawMqtt.connect(h.mqttPort, 5);
    const bad = Buffer.from([0x68, 0xc3, 0x28, 0xff]);
    const pfi = { payloadFormatIndicator: true };
    raw.send(publish('pfi/1', bad, { qos: 1, messageId: 1, properties: pfi }));
    const ack = (await raw.next('puback')) as IPubackPacket;
    assert.equal(ack.reasonCode, 0x99);
    raw.send(publish('pfi/2', bad, { qos: 2, messageId: 2, properties: pfi }));
    const rec = (await raw.next('pubrec')) as IPubrecPacket;
    assert.equal(rec.reasonCode, 0x99);
    // Bytes that are not UTF-8 without the indicator, and UTF-8 with it, are fine.
    raw.send(publish('pfi/binary', bad, { qos: 1, messageId: 3 }));
    raw.send(publish('pfi/text', 'héllo ✓', { qos: 1, messageId: 4, properties: pfi }));
    await raw.next('puback');
    await raw.next('puback');
    const got = await sub.inbox.waitFor(2);
    assert.equal(raw.isClosed, false);
    // QoS 0 has no acknowledgement to carry 0x99: the server disconnects (MQTT 5 §3.3.2.3.2).
    raw.send(publish('pfi/0', bad, { qos: 0, properties: pfi }));
    const bye = (await raw.next('disconnect')) as IDisconnectPacket;
    assert.equal(bye.reasonCode, 0x99);
    await sleep(50);
    assert.deepEqual(
      sub.inbox.items.map((m) => m.topic),
      ['pfi/binary', 'pfi/text'],
    );
    assert.deepEqual(at(got, 0).payload, bad);
    assert.equal(at(got, 1).packet.properties?.payloadFormatIndicator, true);
    raw.destroy();
    await endAll(sub);
  });
});

test('reason strings, unless the client asked for no problem information; PUBACK 0x10 without subscribers', async () => {
  await withMqtt({}, async (h) => {
    for (const requestProblemInformation of [true, false]) {
      const { raw } = await RawMqtt.connect(h.mqttPort, 5, { properties: { requestProblemInformation } });
      raw.send(publish('$SYS/mine', 'x', { qos: 1, messageId: 1 }));
      const ack = (await raw.next('puback')) as IPubackPacket;
      assert.equal(ack.reasonCode, 0x87, 'topics starting with $ are not for clients');
      assert.equal(typeof ack.properties?.reasonString, requestProblemInformation ? 'string' : 'undefined');
      raw.send(publish('nobody/listens', 'x', { qos: 1, messageId: 2 }));
      assert.equal(((await raw.next('puback')) as IPubackPacket).reasonCode, 0x10);
      raw.send(publish('nobody/listens', 'x', { qos: 2, messageId: 3 }));
      assert.equal(((await raw.next('pubrec')) as IPubrecPacket).reasonCode, 0x10);
      raw.send({ cmd: 'pubrel', messageId: 3 });
      await raw.next('pubcomp');
      // DISCONNECT may always carry a reason string.
      raw.send({
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 5,
        clientId: 'x',
        clean: true,
        keepalive: 0,
      });
      const d = await raw.expectDisconnect(0x82);
      assert.equal(typeof d.properties?.reasonString, 'string');
    }
  });
});

test("reason strings are left out of a PUBACK or DISCONNECT that would pass the client's Maximum Packet Size (MQTT 5 §3.4.2.2.2, §3.14.2.2.3)", async () => {
  await withMqtt({}, async (h) => {
    for (const maximumPacketSize of [20, 200]) {
      const { raw } = await RawMqtt.connect(h.mqttPort, 5, { properties: { maximumPacketSize } });
      let largest = 0;
      raw.socket.on('data', (chunk: Buffer) => {
        largest = Math.max(largest, chunk.length);
      });
      raw.send(publish('$SYS/mine', 'x', { qos: 1, messageId: 1 }));
      const ack = (await raw.next('puback')) as IPubackPacket;
      assert.equal(ack.reasonCode, 0x87);
      assert.equal(typeof ack.properties?.reasonString, maximumPacketSize === 20 ? 'undefined' : 'string');
      raw.send(publish('t', 'x', { qos: 1, messageId: 0 }));
      const d = await raw.expectDisconnect(0x82);
      assert.equal(typeof d.properties?.reasonString, maximumPacketSize === 20 ? 'undefined' : 'string');
      assert.ok(
        largest <= maximumPacketSize,
        `${largest} bytes sent in one read to a client allowing ${maximumPacketSize}`,
      );
    }
  });
});

test('maximum packet size: the server refuses bigger packets (0x95), and sends none bigger than the client allows', async () => {
  await withMqtt({ mqtt: { max_packet_size: 1024 } }, async (h) => {
    const sub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await sub.subscribeAsync('mps/#', { qos: 1 });
    const errorsBefore = await metric(h, 'pulse_mqtt_parse_errors_total');
    const { raw, connack } = await RawMqtt.connect(h.mqttPort, 5);
    assert.equal(connack.properties?.maximumPacketSize, 1024);
    raw.send(publish('mps/ok', Buffer.alloc(1000), { qos: 1, messageId: 1 }));
    await raw.next('puback');
    raw.send(publish('mps/big', Buffer.alloc(1100), { qos: 1, messageId: 2 }));
    await raw.expectDisconnect(0x95);
    const { raw: v4 } = await RawMqtt.connect(h.mqttPort, 4);
    v4.send(publish('mps/big', Buffer.alloc(5000), { qos: 0 }));
    await v4.expectClosed();
    assert.equal(await metric(h, 'pulse_mqtt_parse_errors_total'), errorsBefore + 2);
    await sleep(50);
    assert.deepEqual(
      sub.inbox.items.map((m) => m.topic),
      ['mps/ok'],
    );
    // Towards the client: its Maximum Packet Size is respected; QoS 1/2 too large are dropped.
    const small = await mqttClient(h.tcpUrl, { protocolVersion: 5, properties: { maximumPacketSize: 64 } });
    await small.subscribeAsync('mps/#', { qos: 1 });
    const pub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await pub.publishAsync('mps/a', Buffer.alloc(100), { qos: 1 });
    await pub.publishAsync('mps/b', 'fits', { qos: 1 });
    await pub.publishAsync('mps/c', Buffer.alloc(100), { qos: 0 });
    await pub.publishAsync('mps/d', 'fits too', { qos: 0 });
    await small.inbox.waitFor(2);
    await sleep(50);
    assert.deepEqual(
      small.inbox.items.map((m) => m.topic),
      ['mps/b', 'mps/d'],
    );
    assert.equal(
      await metric(h, 'pulse_mqtt_inflight'),
      0,
      'a dropped QoS 1 message does not stay in flight',
    );
    assert.ok((await metric(h, 'pulse_mqtt_dropped_total{reason="too_large"}')) >= 2);
    assert.equal(small.connected, true);
    await endAll(sub, small, pub);
  });
});

test('a PUBLISH whose response topic has a wildcard is a protocol error (MQTT 5 [MQTT-3.3.2-14]), never delivered', async () => {
  await withMqtt({}, async (h) => {
    const sub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await sub.subscribeAsync('rt/#', { qos: 1 });
    for (const responseTopic of ['reply/+', 'reply/#']) {
      const { raw } = await RawMqtt.connect(h.mqttPort, 5);
      raw.send(publish('rt/x', 'x', { qos: 1, messageId: 1, properties: { responseTopic } }));
      await raw.expectDisconnect(0x82);
    }
    const { raw } = await RawMqtt.connect(h.mqttPort, 5);
    raw.send(publish('rt/ok', 'x', { qos: 1, messageId: 1, properties: { responseTopic: 'reply/1' } }));
    await raw.next('puback');
    await sub.inbox.waitFor(1);
    await sleep(50);
    assert.deepEqual(
      sub.inbox.items.map((m) => m.topic),
      ['rt/ok'],
    );
    raw.destroy();
    await endAll(sub);
  });
});

test('a PUBLISH from a client with a subscription identifier is a protocol error', async () => {
  await withMqtt({}, async (h) => {
    const { raw } = await RawMqtt.connect(h.mqttPort, 5);
    raw.send(publish('t', 'x', { properties: { subscriptionIdentifier: 3 } }));
    await raw.expectDisconnect(0x82);
  });
});
