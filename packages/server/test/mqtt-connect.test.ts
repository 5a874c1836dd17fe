import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import { once } from 'node:events';
import { test } from 'node:test';
import type { IConnackPacket, IPublishPacket } from 'mqtt-packet';
import mqttPacket from 'mqtt-packet';
import type { IClientOptions } from 'mqtt';
import WebSocket from 'ws';
import { Inbox, sleep } from './helpers.js';
import {
  type MqttVersion,
  RawMqtt,
  connectPacket,
  encode,
  endAll,
  lstr,
  metric,
  mqttClient,
  mqttClientWithConnack,
  rawConnect,
  rawPacket,
  uniqueId,
  varint,
  withMqtt,
} from './mqtt-helpers.js';

const versionOptions = (v: MqttVersion): IClientOptions =>
  v === 3 ? { protocolVersion: 3, protocolId: 'MQIsdp' } : { protocolVersion: v };

test('publish and subscribe with MQTT 3.1, 3.1.1 and 5.0 over TCP and over WebSocket', async () => {
  await withMqtt({}, async (h) => {
    for (const transport of ['tcp', 'ws'] as const) {
      for (const v of [3, 4, 5] as const) {
        const url = transport === 'tcp' ? h.tcpUrl : h.mqttWsUrl;
        const sub = await mqttClient(url, versionOptions(v));
        const pub = await mqttClient(url, versionOptions(v));
        const topic = `hello/${transport}/${v}`;
        await sub.subscribeAsync(topic, { qos: 1 });
        const payload = Buffer.from([0, 1, 2, 0xfe, 0xff]);
        await pub.publishAsync(topic, payload, { qos: 1 });
        await pub.publishAsync(topic, 'second', { qos: 0 });
        const got = await sub.inbox.waitFor(2);
        assert.equal(at(got, 0).topic, topic, `${transport} v${v}`);
        assert.deepEqual(at(got, 0).payload, payload);
        assert.equal(at(got, 0).packet.qos, 1);
        assert.equal(at(got, 1).payload.toString(), 'second');
        assert.deepEqual(sub.errors, []);
        await endAll(sub, pub);
      }
    }
    // One server, one channel space: a WebSocket client reaches a TCP client.
    const tcp = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    const ws = await mqttClient(h.mqttWsUrl, { protocolVersion: 4 });
    await tcp.subscribeAsync('mixed/t', { qos: 2 });
    await ws.publishAsync('mixed/t', 'from ws', { qos: 2 });
    assert.equal(at(await tcp.inbox.waitFor(1), 0).payload.toString(), 'from ws');
    await endAll(tcp, ws);
  });
});

test('MQTT over WebSocket: subprotocol required, packets may span messages, a message may hold several', async () => {
  await withMqtt({}, async (h) => {
    // No subprotocol: refused at the handshake.
    const refused = new WebSocket(h.mqttWsUrl);
    refused.on('error', () => {});
    const [request, response] = (await once(refused, 'unexpected-response')) as [
      { destroy(): void },
      { statusCode: number },
    ];
    assert.equal(response.statusCode, 400);
    request.destroy();

    for (const subprotocol of ['mqtt', 'mqttv3.1']) {
      const ws = new WebSocket(h.mqttWsUrl, subprotocol);
      await once(ws, 'open');
      assert.equal(ws.protocol, subprotocol);
      const packets = new Inbox<mqttPacket.Packet>();
      const parser = mqttPacket.parser({ protocolVersion: 4 });
      parser.on('packet', packets.push);
      ws.on('message', (data: Buffer) => parser.parse(data));
      const connect = encode(connectPacket(4), 4);
      // CONNECT in three messages, one byte of the fixed header alone.
      ws.send(connect.subarray(0, 1));
      ws.send(connect.subarray(1, 7));
      ws.send(connect.subarray(7));
      await packets.waitFor(1);
      assert.equal(at(packets.items, 0).cmd, 'connack');
      // SUBSCRIBE + PUBLISH + PINGREQ in one message, then a PUBLISH split in the middle.
      const topic = `ws/${subprotocol}`;
      ws.send(
        Buffer.concat([
          encode({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 0 }] }, 4),
          encode(
            { cmd: 'publish', topic, payload: Buffer.from('one'), qos: 0, dup: false, retain: false },
            4,
          ),
          encode({ cmd: 'pingreq' }, 4),
        ]),
      );
      const split = encode(
        { cmd: 'publish', topic, payload: Buffer.from('two'), qos: 0, dup: false, retain: false },
        4,
      );
      ws.send(split.subarray(0, 5));
      ws.send(split.subarray(5));
      await packets.waitFor(5);
      assert.deepEqual(
        packets.items.map((p) => p.cmd),
        ['connack', 'suback', 'publish', 'pingresp', 'publish'],
      );
      assert.equal((packets.items[2] as IPublishPacket).payload.toString(), 'one');
      assert.equal((packets.items[4] as IPublishPacket).payload.toString(), 'two');
      // Text messages are not MQTT: the connection is closed.
      ws.send('not mqtt');
      const [code] = await once(ws, 'close');
      assert.equal(code, 1002);
    }
  });
});

test('CONNECT validation: protocol name and level, reserved flag, will flags, first packet', async () => {
  await withMqtt({}, async (h) => {
    const expectClosedSilently = async (bytes: Buffer, what: string) => {
      const raw = await RawMqtt.open(h.mqttPort, 4);
      raw.write(bytes);
      await raw.expectClosed();
      assert.deepEqual(
        raw.packets.items.map((p) => p.cmd),
        [],
        `${what}: closed without a reply`,
      );
    };
    const expectConnackCode = async (bytes: Buffer, code: number, what: string) => {
      const raw = await RawMqtt.open(h.mqttPort, 4);
      raw.write(bytes);
      const connack = (await raw.next()) as IConnackPacket;
      assert.equal(connack.cmd, 'connack', what);
      assert.equal(connack.returnCode, code, what);
      assert.equal(connack.sessionPresent, false);
      await raw.expectClosed();
    };
    const errorsBefore = await metric(h, 'pulse_mqtt_parse_errors_total');
    await expectClosedSilently(rawConnect({ name: 'MQTX' }), 'unknown protocol name');
    await expectConnackCode(rawConnect({ level: 6 }), 1, 'unknown protocol level');
    await expectConnackCode(rawConnect({ level: 0 }), 1, 'protocol level 0');
    await expectConnackCode(rawConnect({ name: 'MQTT', level: 3 }), 1, '"MQTT" is not the 3.1 name');
    await expectConnackCode(rawConnect({ name: 'MQIsdp', level: 4 }), 1, '"MQIsdp" is only 3.1');
    await expectClosedSilently(rawConnect({ flags: 0x03 }), 'reserved CONNECT flag set');
    await expectClosedSilently(rawConnect({ flags: 0x02 | 0x20 }), 'will retain without will flag');
    await expectClosedSilently(rawConnect({ flags: 0x02 | 0x08 }), 'will QoS without will flag');
    await expectClosedSilently(
      rawConnect({ flags: 0x02 | 0x04 | 0x18, payload: Buffer.concat([lstr('w/t'), lstr('x')]) }),
      'will QoS 3',
    );
    await expectClosedSilently(
      rawConnect({ flags: 0x02 | 0x40, payload: lstr('secret') }),
      '3.1.1: password flag without user name flag',
    );
    await expectClosedSilently(encode({ cmd: 'pingreq' }, 4), 'PINGREQ before CONNECT');
    await expectClosedSilently(
      encode({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a', qos: 0 }] }, 4),
      'SUBSCRIBE before CONNECT',
    );
    await expectClosedSilently(rawPacket(0x10, [0x00]), 'truncated CONNECT');
    assert.ok(
      (await metric(h, 'pulse_mqtt_parse_errors_total')) >= errorsBefore + 10,
      'malformed and invalid CONNECTs are counted',
    );

    // v5: a password without a user name is allowed (MQTT 5 §3.1.2.9).
    const v5 = await RawMqtt.open(h.mqttPort, 5);
    v5.write(rawConnect({ level: 5, flags: 0x02 | 0x40, payload: lstr('secret') }));
    assert.equal(((await v5.next('connack')) as IConnackPacket).reasonCode, 0);
    v5.destroy();

    // A second CONNECT is a protocol error: DISCONNECT 0x82 in v5, a plain close in 3.1.1.
    const { raw: twice5 } = await RawMqtt.connect(h.mqttPort, 5);
    twice5.send(connectPacket(5));
    await twice5.expectDisconnect(0x82);
    const { raw: twice4 } = await RawMqtt.connect(h.mqttPort, 4);
    twice4.send(connectPacket(4));
    await twice4.expectClosed();
    assert.deepEqual(
      twice4.unread().map((p) => p.cmd),
      [],
    );
    // The server still serves: a normal client works.
    const ok = await mqttClient(h.tcpUrl);
    await ok.subscribeAsync('still/ok');
    await ok.publishAsync('still/ok', 'yes');
    await ok.inbox.waitFor(1);
    await endAll(ok);
  });
});

test('client identifiers: empty ids, assigned ids in v5, invalid ids', async () => {
  await withMqtt({}, async (h) => {
    // 3.1.1: an empty id needs clean session (MQTT 3.1.1 §3.1.3.1).
    const empty4 = await mqttClientWithConnack(h.tcpUrl, { clientId: '', clean: true, protocolVersion: 4 });
    assert.equal(empty4.connack.returnCode, 0);
    assert.equal(empty4.connack.sessionPresent, false);
    await endAll(empty4.client);
    const refused4 = await RawMqtt.open(h.mqttPort, 4);
    refused4.write(rawConnect({ level: 4, clientId: '', flags: 0x00 }));
    const c4 = (await refused4.next('connack')) as IConnackPacket;
    assert.equal(c4.returnCode, 2, 'identifier rejected');
    await refused4.expectClosed();
    // 3.1: client ids are 1 to 23 characters; an empty one is rejected.
    const refused3 = await RawMqtt.open(h.mqttPort, 3);
    refused3.write(rawConnect({ name: 'MQIsdp', level: 3, clientId: '' }));
    assert.equal(((await refused3.next('connack')) as IConnackPacket).returnCode, 2);
    await refused3.expectClosed();
    const tooLong3 = await RawMqtt.open(h.mqttPort, 3);
    tooLong3.write(rawConnect({ name: 'MQIsdp', level: 3, clientId: 'x'.repeat(24) }));
    assert.equal(((await tooLong3.next('connack')) as IConnackPacket).returnCode, 2, '24 characters in 3.1');
    await tooLong3.expectClosed();
    const longest3 = await RawMqtt.open(h.mqttPort, 3);
    longest3.write(rawConnect({ name: 'MQIsdp', level: 3, clientId: 'x'.repeat(23) }));
    assert.equal(((await longest3.next('connack')) as IConnackPacket).returnCode, 0, '23 characters in 3.1');
    longest3.destroy();
    // v5: the server assigns one and says which, with or without clean start.
    const assigned: string[] = [];
    for (const clean of [true, false]) {
      const raw = await RawMqtt.open(h.mqttPort, 5);
      raw.write(rawConnect({ level: 5, clientId: '', flags: clean ? 0x02 : 0x00 }));
      const c = (await raw.next('connack')) as IConnackPacket;
      assert.equal(c.reasonCode, 0);
      const id = c.properties?.assignedClientIdentifier;
      assert.ok(id && id.length > 0, 'assigned client identifier');
      assigned.push(id);
      raw.send({ cmd: 'disconnect', reasonCode: 0 });
      await raw.expectClosed();
    }
    assert.notEqual(assigned[0], assigned[1]);
    // No assigned identifier when the client chose one.
    const named = await mqttClientWithConnack(h.tcpUrl, { protocolVersion: 5 });
    assert.equal(named.connack.properties?.assignedClientIdentifier, undefined);
    await endAll(named.client);
    // U+0000 is not allowed in a client id: 0x85 (v5), 0x02 (3.1.1).
    for (const v of [4, 5] as const) {
      const raw = await RawMqtt.open(h.mqttPort, v);
      raw.write(rawConnect({ level: v, clientId: 'bad\u0000id' }));
      const c = (await raw.next('connack')) as IConnackPacket;
      assert.equal(v === 5 ? c.reasonCode : c.returnCode, v === 5 ? 0x85 : 2);
      await raw.expectClosed();
    }
  });
});

test('v5 CONNECT properties that are protocol errors get a CONNACK with the reason code', async () => {
  await withMqtt({}, async (h) => {
    const cases: [string, Buffer, number][] = [
      ['receive maximum 0', Buffer.from([0x21, 0, 0]), 0x82],
      ['maximum packet size 0', Buffer.from([0x27, 0, 0, 0, 0]), 0x82],
      ['authentication method', Buffer.concat([Buffer.from([0x15]), lstr('SCRAM-SHA-1')]), 0x8c],
      ['a property twice', Buffer.from([0x11, 0, 0, 0, 5, 0x11, 0, 0, 0, 6]), 0x82],
      ['unknown property', Buffer.from([0x7f, 0]), 0x81],
    ];
    for (const [what, props, reason] of cases) {
      const raw = await RawMqtt.open(h.mqttPort, 5);
      raw.write(rawConnect({ level: 5, props }));
      const c = await raw.nextOrClosed();
      if (reason === 0x81 && c === undefined) {
        // A malformed CONNECT may also just be closed (MQTT 5 §4.13.1).
        await raw.expectClosed();
        continue;
      }
      assert.equal(c?.cmd, 'connack', what);
      assert.equal((c as IConnackPacket).reasonCode, reason, what);
      await raw.expectClosed();
    }
  });
});

test('CONNACK v5 properties tell the server limits; 3.1.1 CONNACK has none', async () => {
  await withMqtt(
    {
      mqtt: {
        receive_maximum: 50,
        max_packet_size: 4096,
        topic_alias_maximum: 7,
        max_keepalive: 30,
        max_session_expiry_interval: 100,
      },
    },
    async (h) => {
      const { client, connack } = await mqttClientWithConnack(h.tcpUrl, {
        protocolVersion: 5,
        keepalive: 60,
        clean: false,
        properties: { sessionExpiryInterval: 1000 },
      });
      assert.equal(connack.reasonCode, 0);
      const p = connack.properties ?? {};
      assert.equal(p.receiveMaximum, 50);
      assert.equal(p.maximumPacketSize, 4096);
      assert.equal(p.topicAliasMaximum, 7);
      assert.equal(p.retainAvailable, true);
      assert.equal(p.wildcardSubscriptionAvailable, true);
      assert.equal(p.sharedSubscriptionAvailable, true);
      assert.equal(p.subscriptionIdentifiersAvailable, true);
      assert.equal(p.serverKeepAlive, 30, 'keep alive above the maximum is lowered');
      assert.equal(p.sessionExpiryInterval, 100, 'session expiry above the maximum is lowered');
      assert.notEqual(p.maximumQoS, 0);
      assert.notEqual(p.maximumQoS, 1);
      await endAll(client);
      const within = await mqttClientWithConnack(h.tcpUrl, {
        protocolVersion: 5,
        keepalive: 20,
        properties: { sessionExpiryInterval: 50 },
      });
      assert.equal(within.connack.properties?.serverKeepAlive, undefined);
      assert.equal(within.connack.properties?.sessionExpiryInterval, undefined);
      await endAll(within.client);
      const v4 = await mqttClientWithConnack(h.tcpUrl, { protocolVersion: 4, keepalive: 20 });
      assert.equal(v4.connack.returnCode, 0);
      assert.equal(v4.connack.properties, undefined);
      await endAll(v4.client);
    },
  );
});

test('keep alive: silent past 1.5 x keep alive closes (0x8D in v5, will sent); PINGREQ keeps it open; server keep alive', async () => {
  await withMqtt({ mqtt: { max_keepalive: 1 } }, async (h) => {
    const watcher = await mqttClient(h.tcpUrl, { keepalive: 1 });
    await watcher.subscribeAsync('ka/will/#', { qos: 1 });
    const started = Date.now();
    const { raw: silent5 } = await RawMqtt.connect(h.mqttPort, 5, {
      keepalive: 1,
      will: { topic: 'ka/will/5', payload: Buffer.from('timed out'), qos: 1, retain: false },
    });
    const { raw: silent4 } = await RawMqtt.connect(h.mqttPort, 4, { keepalive: 1 });
    const { raw: pinger } = await RawMqtt.connect(h.mqttPort, 4, { keepalive: 1 });
    // Asking for more than mqtt.max_keepalive, or for none: told the server keep alive, and held to it.
    const { raw: lowered, connack } = await RawMqtt.connect(h.mqttPort, 5, { keepalive: 100 });
    assert.equal(connack.properties?.serverKeepAlive, 1);
    const { raw: none, connack: noneConnack } = await RawMqtt.connect(h.mqttPort, 5, { keepalive: 0 });
    assert.equal(noneConnack.properties?.serverKeepAlive, 1, 'keep alive 0 is past the maximum too');
    const timer = setInterval(() => pinger.send({ cmd: 'pingreq' }), 400);
    try {
      await silent5.expectDisconnect(0x8d, 4000);
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 1400, `closed after ${elapsed} ms, not before 1.5 s`);
      await silent4.expectClosed(2000);
      await lowered.expectDisconnect(0x8d, 2000);
      await none.expectDisconnect(0x8d, 2000);
      const [will] = await watcher.inbox.waitFor(1);
      assert.ok(will !== undefined);
      assert.equal(will.topic, 'ka/will/5');
      assert.equal(will.payload.toString(), 'timed out');
      await sleep(300);
      assert.equal(pinger.isClosed, false, 'a client that sends PINGREQ stays connected');
      assert.ok(pinger.unread().filter((p) => p.cmd === 'pingresp').length >= 3);
      assert.equal(watcher.connected, true);
    } finally {
      clearInterval(timer);
      pinger.destroy();
      await endAll(watcher);
    }
  });
});

test('session takeover: the old connection gets DISCONNECT 0x8E (v5) or is closed (3.1.1), its will goes out', async () => {
  await withMqtt({}, async (h) => {
    const watcher = await mqttClient(h.tcpUrl);
    await watcher.subscribeAsync('takeover/#', { qos: 1 });
    for (const v of [4, 5] as const) {
      const clientId = uniqueId('dup');
      const old = await mqttClient(h.tcpUrl, {
        protocolVersion: v,
        clientId,
        will: { topic: `takeover/will/${v}`, payload: Buffer.from(`old v${v}`), qos: 1, retain: false },
      });
      const fresh = await mqttClient(h.tcpUrl, { protocolVersion: v, clientId });
      const disconnect = await old.gone;
      if (v === 5) assert.equal(disconnect?.reasonCode, 0x8e);
      else assert.equal(disconnect, undefined);
      await watcher.inbox.waitFor(v === 4 ? 1 : 3);
      const wills = watcher.inbox.items.filter((m) => m.topic.startsWith('takeover/will/'));
      assert.equal(wills[wills.length - 1]?.topic, `takeover/will/${v}`, 'the old connection’s will');
      // The new connection is fully working.
      await fresh.subscribeAsync(`takeover/live/${v}`);
      await watcher.publishAsync(`takeover/live/${v}`, 'hi', { qos: 1 });
      await fresh.inbox.waitFor(1);
      assert.equal(fresh.connected, true);
      await endAll(fresh);
    }
    // A continuing session (expiry > 0, clean start 0): the delayed will is not sent.
    const clientId = uniqueId('dup');
    const old = await mqttClient(h.tcpUrl, {
      protocolVersion: 5,
      clientId,
      clean: false,
      properties: { sessionExpiryInterval: 60 },
      will: {
        topic: 'takeover/will/delayed',
        payload: Buffer.from('x'),
        qos: 1,
        retain: false,
        properties: { willDelayInterval: 1 },
      },
    });
    await old.subscribeAsync('takeover/kept', { qos: 1 });
    const fresh = await mqttClientWithConnack(h.tcpUrl, {
      protocolVersion: 5,
      clientId,
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    });
    assert.equal((await old.gone)?.reasonCode, 0x8e);
    assert.equal(fresh.connack.sessionPresent, true);
    await watcher.publishAsync('takeover/kept', 'to the new connection', { qos: 1 });
    assert.equal(at(await fresh.client.inbox.waitFor(1), 0).payload.toString(), 'to the new connection');
    await sleep(1100);
    assert.deepEqual(
      watcher.inbox.items.map((m) => m.topic).filter((t) => t === 'takeover/will/delayed'),
      [],
    );
    await endAll(fresh.client, watcher);
  });
});

test('session takeover of a continuing session drops the will even with no delay (as Mosquitto)', async () => {
  await withMqtt({}, async (h) => {
    const watcher = await mqttClient(h.tcpUrl);
    await watcher.subscribeAsync('kept-will/#', { qos: 1 });
    const clientId = uniqueId('dup');
    const persistent = {
      protocolVersion: 5,
      clientId,
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    } as const;
    const old = await mqttClient(h.tcpUrl, {
      ...persistent,
      will: { topic: 'kept-will/now', payload: Buffer.from('x'), qos: 1, retain: false },
    });
    const fresh = await mqttClientWithConnack(h.tcpUrl, persistent);
    assert.equal((await old.gone)?.reasonCode, 0x8e);
    assert.equal(fresh.connack.sessionPresent, true);
    await watcher.publishAsync('kept-will/fence', 'fence', { qos: 1 });
    await watcher.inbox.waitFor(1);
    // The old connection's close is handled on the server some time after the client saw it.
    await sleep(300);
    assert.deepEqual(
      watcher.inbox.items.map((m) => m.topic),
      ['kept-will/fence'],
      'the will of the connection taken over is not sent',
    );
    await endAll(fresh.client, watcher);
  });
});

test('DISCONNECT from the client: 0x00 discards the will, 0x04 and error codes send it, session expiry rules', async () => {
  await withMqtt({}, async (h) => {
    const watcher = await mqttClient(h.tcpUrl);
    await watcher.subscribeAsync('bye/#', { qos: 1 });
    const will = (name: string) => ({
      topic: `bye/${name}`,
      payload: Buffer.from(name),
      qos: 1 as const,
      retain: false,
    });
    const normal = await mqttClient(h.tcpUrl, { protocolVersion: 5, will: will('normal') });
    await normal.endAsync(false, { reasonCode: 0 });
    const withWill = await mqttClient(h.tcpUrl, { protocolVersion: 5, will: will('with-will') });
    await withWill.endAsync(false, { reasonCode: 0x04 });
    // Only 0x00 discards the will (MQTT 5 §3.1.2.5): an error code leaves it to be sent.
    const failing = await mqttClient(h.tcpUrl, { protocolVersion: 5, will: will('error') });
    await failing.endAsync(false, { reasonCode: 0x80 });
    const v4 = await mqttClient(h.tcpUrl, { protocolVersion: 4, will: will('v4-normal') });
    await v4.endAsync();
    const dropped = await mqttClient(h.tcpUrl, { protocolVersion: 4, will: will('v4-dropped') });
    dropped.stream.destroy();
    const got = await watcher.inbox.waitFor(3);
    await sleep(200);
    assert.deepEqual(watcher.inbox.items.map((m) => m.topic).sort(), [
      'bye/error',
      'bye/v4-dropped',
      'bye/with-will',
    ]);
    assert.equal(got.length, 3);

    // Session expiry 0 at CONNECT cannot become non-zero at DISCONNECT (MQTT 5 §3.14.2.2.2).
    const { raw } = await RawMqtt.connect(h.mqttPort, 5, {
      will: { topic: 'bye/protocol-error', payload: Buffer.from('pe'), qos: 0, retain: false },
    });
    raw.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 30 } });
    await raw.expectDisconnect(0x82);
    const [, , , pe] = await watcher.inbox.waitFor(4);
    assert.ok(pe !== undefined);
    assert.equal(pe.topic, 'bye/protocol-error', 'a connection closed for a protocol error sends its will');
    // Session expiry set at DISCONNECT ends (or keeps) the session.
    const clientId = uniqueId('exp');
    const keep = await mqttClient(h.tcpUrl, {
      protocolVersion: 5,
      clientId,
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    });
    await keep.endAsync(false, { reasonCode: 0, properties: { sessionExpiryInterval: 0 } });
    const again = await mqttClientWithConnack(h.tcpUrl, { protocolVersion: 5, clientId, clean: false });
    assert.equal(again.connack.sessionPresent, false, 'expiry 0 at DISCONNECT ended the session');
    await endAll(again.client, watcher);
  });
});

test('will messages: QoS, retain, properties, will delay, reconnects, session end, message expiry', async () => {
  await withMqtt({}, async (h) => {
    const watcher = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await watcher.subscribeAsync('will/#', { qos: 2 });
    const willOf = (name: string, properties: Record<string, unknown> = {}, retain = false) => ({
      topic: `will/${name}`,
      payload: Buffer.from(`${name} is gone`),
      qos: 2 as const,
      retain,
      properties,
    });
    // Properties travel with the will; the will's expiry counts from when it is published.
    const rich = await mqttClient(h.tcpUrl, {
      protocolVersion: 5,
      will: willOf(
        'rich',
        {
          contentType: 'text/plain',
          responseTopic: 'reply/here',
          correlationData: Buffer.from([1, 2, 3]),
          userProperties: { a: '1', b: ['x', 'y'] },
          payloadFormatIndicator: true,
          messageExpiryInterval: 1,
        },
        true,
      ),
    });
    const delayed = await mqttClient(h.tcpUrl, {
      protocolVersion: 5,
      clean: false,
      properties: { sessionExpiryInterval: 30 },
      will: willOf('delayed', { willDelayInterval: 1 }),
    });
    const returning = uniqueId('back');
    const back = await mqttClient(h.tcpUrl, {
      protocolVersion: 5,
      clientId: returning,
      clean: false,
      properties: { sessionExpiryInterval: 30 },
      will: willOf('returning', { willDelayInterval: 1 }),
    });
    const sessionEnds = await mqttClient(h.tcpUrl, {
      protocolVersion: 5,
      clean: false,
      properties: { sessionExpiryInterval: 1 },
      will: willOf('session-end', { willDelayInterval: 100 }),
    });
    const cleanId = uniqueId('clean');
    const cleanAgain = await mqttClient(h.tcpUrl, {
      protocolVersion: 5,
      clientId: cleanId,
      clean: false,
      properties: { sessionExpiryInterval: 30 },
      will: willOf('clean-start', { willDelayInterval: 100 }),
    });
    await sleep(1100); // longer than `rich`'s will expiry: it must still be published
    const t0 = Date.now();
    for (const c of [rich, delayed, back, sessionEnds, cleanAgain]) c.stream.destroy();
    // Returns before its will delay: no will.
    const backAgain = await mqttClient(h.tcpUrl, { protocolVersion: 5, clientId: returning, clean: false });
    // Returns with clean start: the old session ends, so its will goes now.
    const cleanNew = await mqttClient(h.tcpUrl, { protocolVersion: 5, clientId: cleanId, clean: true });

    const first = await watcher.inbox.waitFor(2, 3000);
    const topicsSoon = first.map((m) => m.topic).sort();
    assert.deepEqual(topicsSoon, ['will/clean-start', 'will/rich']);
    assert.ok(Date.now() - t0 < 800, 'wills without delay go out at once');
    const rm = first.find((m) => m.topic === 'will/rich') as (typeof first)[0];
    assert.equal(rm.payload.toString(), 'rich is gone');
    assert.equal(rm.packet.qos, 2);
    const p = rm.packet.properties ?? {};
    assert.equal(p.contentType, 'text/plain');
    assert.equal(p.responseTopic, 'reply/here');
    assert.deepEqual(p.correlationData, Buffer.from([1, 2, 3]));
    assert.deepEqual({ ...p.userProperties }, { a: '1', b: ['x', 'y'] });
    assert.equal(p.payloadFormatIndicator, true);
    assert.equal(p.messageExpiryInterval, 1, 'will expiry starts when the will is published');
    assert.equal((p as Record<string, unknown>).willDelayInterval, undefined);
    // The retained (unexpired) will is replayed to a later subscriber, with the retain flag.
    const late = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await late.subscribeAsync('will/rich');
    const [replayed] = await late.inbox.waitFor(1);
    assert.ok(replayed !== undefined);
    assert.equal(replayed.packet.retain, true);
    assert.equal(replayed.payload.toString(), 'rich is gone');

    const all = await watcher.inbox.waitFor(4, 3000);
    const later = all
      .slice(2)
      .map((m) => m.topic)
      .sort();
    assert.deepEqual(later, ['will/delayed', 'will/session-end']);
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 900, `delayed wills waited (${elapsed} ms)`);
    await sleep(200);
    assert.equal(watcher.inbox.items.length, 4, 'the client that came back sent no will');

    await endAll(watcher, backAgain, cleanNew, late);
  });
});

test('will topic must be valid; will payload format indicator must match the payload', async () => {
  await withMqtt({}, async (h) => {
    const bad = await RawMqtt.open(h.mqttPort, 5);
    bad.send(
      connectPacket(5, {
        will: {
          topic: 'w/+',
          payload: Buffer.from('x'),
          qos: 0,
          retain: false,
        },
      }),
    );
    const c = (await bad.next('connack')) as IConnackPacket;
    assert.equal(c.reasonCode, 0x90);
    await bad.expectClosed();
    const utf = await RawMqtt.open(h.mqttPort, 5);
    utf.write(
      rawConnect({
        level: 5,
        flags: 0x02 | 0x04,
        payload: Buffer.concat([
          varint(2),
          Buffer.from([0x01, 0x01]),
          lstr('w/t'),
          lstr(Buffer.from([0xff, 0xfe])),
        ]),
      }),
    );
    assert.equal(((await utf.next('connack')) as IConnackPacket).reasonCode, 0x99);
    await utf.expectClosed();
  });
});
