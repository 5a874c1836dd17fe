import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import { once } from 'node:events';
import { test } from 'node:test';
import type { IConnackPacket, IPubackPacket, IPublishPacket, IPubrecPacket } from 'mqtt-packet';
import { sleep, wsClient } from './helpers.js';
import {
  RawMqtt,
  connectPacket,
  encode,
  endAll,
  lstr,
  metric,
  mqttClient,
  rawPacket,
  varint,
  withMqtt,
} from './mqtt-helpers.js';

/** `count` user properties named k0, k1, … (values v0, v1, …). */
function userProperties(count: number, valueBytes = 2): Record<string, string> {
  const props: Record<string, string> = {};
  for (let i = 0; i < count; i++) props[`k${i}`] = `v${i}`.padEnd(valueBytes, '.');
  return props;
}

const publish = (topic: string, fields: Partial<IPublishPacket> = {}): IPublishPacket => ({
  cmd: 'publish',
  topic,
  payload: Buffer.from('x'),
  qos: 0,
  dup: false,
  retain: false,
  ...fields,
});

const refused = (h: { metricsUrl: string }) =>
  metric(h as never, 'pulse_mqtt_publish_refused_total{reason="0x97"}');

test('PUBLISH over mqtt.max_user_properties or mqtt.max_user_property_bytes: PUBACK/PUBREC 0x97, QoS 0 dropped; the connection stays', async () => {
  await withMqtt({ mqtt: { max_user_properties: 4, max_user_property_bytes: 64 } }, async (h) => {
    const sub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await sub.subscribeAsync('up/#', { qos: 1 });
    const { raw } = await RawMqtt.connect(h.mqttPort, 5);
    const four = userProperties(4);
    raw.send(publish('up/ok', { qos: 1, messageId: 1, properties: { userProperties: four } }));
    assert.equal(((await raw.next('puback')) as IPubackPacket).reasonCode ?? 0, 0);
    raw.send(
      publish('up/count', { qos: 1, messageId: 2, properties: { userProperties: userProperties(5) } }),
    );
    const byCount = (await raw.next('puback')) as IPubackPacket;
    assert.equal(byCount.reasonCode, 0x97);
    assert.match(String(byCount.properties?.reasonString), /more than 4 user properties/);
    // 2 properties of 2 + 40 bytes: 84 bytes of names and values.
    raw.send(
      publish('up/bytes', { qos: 2, messageId: 3, properties: { userProperties: userProperties(2, 40) } }),
    );
    const byBytes = (await raw.next('pubrec')) as IPubrecPacket;
    assert.equal(byBytes.reasonCode, 0x97);
    assert.match(String(byBytes.properties?.reasonString), /over 64 bytes/);
    const before = await refused(h);
    raw.send(publish('up/qos0', { properties: { userProperties: userProperties(5) } }));
    raw.send({ cmd: 'pingreq' });
    await raw.next('pingresp');
    assert.equal(await refused(h), before + 1, 'the dropped QoS 0 publish is counted');
    // The same client goes on publishing within the limits.
    raw.send(publish('up/after', { qos: 1, messageId: 4, properties: { userProperties: four } }));
    assert.equal(((await raw.next('puback')) as IPubackPacket).reasonCode ?? 0, 0);
    const got = await sub.inbox.waitFor(2);
    await sleep(50);
    assert.deepEqual(
      sub.inbox.items.map((m) => m.topic),
      ['up/ok', 'up/after'],
    );
    assert.deepEqual(
      { ...at(got, 0).packet.properties?.userProperties },
      four,
      'properties within the limits travel on',
    );
    raw.destroy();
    await endAll(sub);
  });
});

test('CONNECT (or its will) over the user property limits: CONNACK 0x97; SUBSCRIBE, UNSUBSCRIBE, PUBACK, DISCONNECT: DISCONNECT 0x97', async () => {
  await withMqtt({ mqtt: { max_user_properties: 4 } }, async (h) => {
    const five = userProperties(5);
    for (const fields of [
      { properties: { userProperties: five } },
      {
        will: {
          topic: 'w',
          payload: Buffer.from('x'),
          qos: 0 as const,
          retain: false,
          properties: { userProperties: five },
        },
      },
      // Three on CONNECT and two on its will: five in one packet.
      {
        properties: { userProperties: userProperties(3) },
        will: {
          topic: 'w',
          payload: Buffer.from('x'),
          qos: 0 as const,
          retain: false,
          properties: { userProperties: { a: '1', b: '2' } },
        },
      },
    ]) {
      const raw = await RawMqtt.open(h.mqttPort, 5);
      raw.send(connectPacket(5, fields));
      assert.equal(((await raw.next('connack')) as IConnackPacket).reasonCode, 0x97);
      await raw.expectClosed();
    }
    const packets = [
      {
        cmd: 'subscribe',
        messageId: 1,
        subscriptions: [{ topic: 'a', qos: 0 }],
        properties: { userProperties: five },
      },
      { cmd: 'unsubscribe', messageId: 1, unsubscriptions: ['a'], properties: { userProperties: five } },
      { cmd: 'puback', messageId: 1, reasonCode: 0x10, properties: { userProperties: five } },
      { cmd: 'disconnect', reasonCode: 0, properties: { userProperties: five } },
    ] as const;
    for (const packet of packets) {
      const { raw } = await RawMqtt.connect(h.mqttPort, 5);
      raw.send(packet as never);
      await raw.expectDisconnect(0x97);
    }
  });
});

test('a property given twice is refused (0x82) before mqtt-packet builds it: 50,000 topic aliases cost nothing', async () => {
  await withMqtt({}, async (h) => {
    const { raw } = await RawMqtt.connect(h.mqttPort, 5);
    const props = Buffer.alloc(3 * 50_000);
    for (let i = 0; i < 50_000; i++) {
      props[i * 3] = 0x23;
      props.writeUInt16BE(1, i * 3 + 1);
    }
    raw.write(rawPacket(0x30, lstr('dup/props'), varint(props.length), props, Buffer.from('x')));
    const bye = await raw.expectDisconnect(0x82);
    assert.match(String(bye.properties?.reasonString), /given more than once/);
  });
});

test('a flood of 318 KB PUBLISH packets with 20,000 user properties each: refused cheaply; bystander MQTT and native pairs lose nothing and keep their latency', async () => {
  await withMqtt({}, async (h) => {
    const mqttPair = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await mqttPair.subscribeAsync('bystander/mqtt', { qos: 0 });
    const nativePair = await wsClient(h);
    const { raw } = await RawMqtt.connect(h.mqttPort, 5);
    const bomb = encode(publish('flood', { properties: { userProperties: userProperties(20_000) } }), 5);
    assert.ok(bomb.length > 300_000, `${bomb.length} bytes`);

    // Each message carries its sequence number and send time: "seq@ms".
    const seen = { mqtt: [] as number[], native: [] as number[] };
    const latencies = { mqtt: [] as number[], native: [] as number[] };
    const record = (pair: 'mqtt' | 'native', text: string) => {
      const [seq, sentAt] = text.split('@').map(Number);
      assert.ok(seq !== undefined && sentAt !== undefined, `a "seq@ms" payload, got ${text}`);
      seen[pair].push(seq);
      latencies[pair].push(performance.now() - sentAt);
    };
    mqttPair.on('message', (_topic, payload) => record('mqtt', payload.toString()));
    await nativePair.subscribe('bystander/native', (p) =>
      record('native', Buffer.from(p.payload).toString()),
    );
    let sending = true;
    let sent = 0;
    const pinger = (async () => {
      while (sending) {
        const text = `${sent}@${performance.now()}`;
        mqttPair.publish('bystander/mqtt', text);
        await nativePair.publish('bystander/native', text);
        sent++;
        await sleep(10);
      }
    })();
    const before = await refused(h);
    const started = performance.now();
    let packets = 0;
    // About a second of flood, as fast as the socket takes it.
    while (performance.now() - started < 1000) {
      packets++;
      if (!raw.socket.write(bomb)) await once(raw.socket, 'drain');
    }
    raw.send({ cmd: 'pingreq' });
    await raw.next('pingresp', 30_000);
    const floodMs = performance.now() - started;
    sending = false;
    await pinger;
    await sleep(100);
    assert.equal(await refused(h), before + packets, 'every packet refused (QoS 0: dropped and counted)');
    const inOrder = Array.from({ length: sent }, (_, i) => i);
    for (const pair of ['mqtt', 'native'] as const) {
      assert.deepEqual(seen[pair], inOrder, `${pair} bystanders lose nothing, in order`);
      const worst = Math.max(...latencies[pair]);
      assert.ok(
        worst < 500,
        `${pair} bystander latency ${worst.toFixed(1)} ms during a ${floodMs.toFixed(0)} ms flood`,
      );
    }
    raw.destroy();
    await nativePair.close();
    await endAll(mqttPair);
  });
});
