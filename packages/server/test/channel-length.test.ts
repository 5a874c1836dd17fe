import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { IConnackPacket, IPublishPacket, ISubackPacket, IUnsubackPacket } from 'mqtt-packet';
import { RawWs } from './helpers.js';
import { bystanders, subscribe } from './name-limit-helpers.js';
import { nameLimitInEveryProtocol } from './name-limit-suite.js';
import {
  type MqttHarness,
  RawMqtt,
  connectPacket,
  endAll,
  mqttClient,
  run,
  startMqtt,
  uniqueId,
} from './mqtt-helpers.js';

const TOPIC_FILTER_INVALID = 0x8f;
const TOPIC_NAME_INVALID = 0x90;
const KEY = 'channel-length-test-key-0123456';
const LIMIT = 64;
const MESSAGE = /longer than 64 bytes \(limits\.max_channel_length\)/;

/** A channel of exactly `bytes` ASCII bytes under `prefix`. */
const name = (bytes: number, prefix = 'c/') => prefix + 'x'.repeat(bytes - prefix.length);
/** 64 bytes in 32 characters; one more ASCII character makes 65 bytes in 33. */
const wide = 'é'.repeat(LIMIT / 2);

/** A client PUBLISH of `topic` at QoS 1 (id 1), not retained, with `fields` over that. */
const publishPacket = (topic: string, fields: Partial<IPublishPacket> = {}): IPublishPacket => ({
  cmd: 'publish',
  topic,
  payload: Buffer.from('x'),
  qos: 1,
  messageId: 1,
  retain: false,
  dup: false,
  ...fields,
});

describe('the default limits.max_channel_length (1024 bytes)', () => {
  test('a 64 KiB MQTT filter, topic and will are refused; a native $share with a long group too; 1024 bytes pass', async () => {
    const h = await startMqtt();
    const others = await bystanders(h);
    try {
      const { raw } = await RawMqtt.connect(h.mqttPort, 5);
      const huge = name(65_000);
      assert.deepEqual(await subscribe(raw, [huge, name(1025), name(1024)]), [
        TOPIC_FILTER_INVALID,
        TOPIC_FILTER_INVALID,
        0,
      ]);
      assert.deepEqual(
        [...(h.server.mqtt?.sessions.values() ?? [])]
          .flatMap((s) => [...s.subscriptions.keys()])
          .filter((f) => f.length > 1024),
        [],
      );

      const willer = await RawMqtt.open(h.mqttPort, 5);
      willer.send(
        connectPacket(5, { will: { topic: huge, payload: Buffer.from('x'), qos: 0, retain: true } }),
      );
      assert.equal(((await willer.next('connack')) as IConnackPacket).reasonCode, TOPIC_NAME_INVALID);
      willer.destroy();

      // The native protocol bounds a name to 256 bytes, but not the group of a $share.
      const native = await RawWs.open(h.wsUrl);
      native.send({ type: 'subscribe', id: 1, channel: `$share/${'g'.repeat(20_000)}/a` });
      native.send({ type: 'subscribe', id: 2, channel: `$share/${'g'.repeat(1024 - 9)}/a` });
      const refused = (await native.frame(1)) as { type: string; code: number; message: string };
      assert.equal(refused.type, 'error');
      assert.equal(refused.code, 1002);
      assert.match(refused.message, /longer than 1024 bytes \(limits\.max_channel_length\)/);
      assert.deepEqual(await native.frame(2), { type: 'ack', id: 2 });
      native.ws.close();

      const publisher = await RawMqtt.connect(h.mqttPort, 5);
      publisher.raw.send(publishPacket(huge, { qos: 0, messageId: undefined, retain: true }));
      await publisher.raw.expectDisconnect(TOPIC_NAME_INVALID);
      const { raw: late } = await RawMqtt.connect(h.mqttPort, 5);
      await subscribe(late, ['c/#']);
      await late.nothingFor(200, 'publish');
      late.destroy();
      await others.stillDeliver();
      raw.destroy();
    } finally {
      await others.close();
      await h.stop();
    }
  });
});

describe('limits.max_channel_length in every protocol', () => {
  let h: MqttHarness;
  let others: Awaited<ReturnType<typeof bystanders>>;
  before(async () => {
    h = await startMqtt({ limits: { max_channel_length: LIMIT }, auth: { api_keys: [KEY] } });
    others = await bystanders(h);
  });
  after(async () => {
    await others.stillDeliver();
    await others.close();
    await h.stop();
  });

  nameLimitInEveryProtocol(() => h, {
    filterOver: name(LIMIT + 1, 'c/+/'),
    filterAt: name(LIMIT, 'c/+/'),
    sharedOver: name(LIMIT + 1, '$share/g/'),
    sharedAt: name(LIMIT, '$share/g/'),
    topicOver: name(LIMIT + 1),
    topicAt: name(LIMIT, 'c/a/'),
    message: MESSAGE,
    apiKey: KEY,
  });

  test('MQTT counts UTF-8 bytes: 33 characters of 65 bytes are refused in SUBSCRIBE and PUBLISH', async () => {
    const { raw } = await RawMqtt.connect(h.mqttPort, 5);
    assert.deepEqual(await subscribe(raw, [`${wide}a`, wide], 1), [TOPIC_FILTER_INVALID, 1]);
    raw.send(publishPacket(wide, { payload: Buffer.from('fits') }));
    assert.equal(((await raw.next('publish')) as IPublishPacket).topic, wide);
    raw.send(publishPacket(`${wide}a`, { messageId: 2 }));
    await raw.expectDisconnect(TOPIC_NAME_INVALID);
  });

  test('MQTT UNSUBSCRIBE past the limit: v5 0x8F (no such subscription can exist)', async () => {
    const { raw } = await RawMqtt.connect(h.mqttPort, 5);
    await subscribe(raw, [name(LIMIT)]);
    raw.send({
      cmd: 'unsubscribe',
      messageId: 2,
      unsubscriptions: [name(LIMIT + 1), name(LIMIT), name(LIMIT)],
    });
    const unsuback = (await raw.next('unsuback')) as IUnsubackPacket;
    assert.deepEqual(unsuback.granted, [TOPIC_FILTER_INVALID, 0x00, 0x11]);
    raw.destroy();
  });

  test('MQTT topic aliases: an alias for a topic past the limit is refused (a reserved one too), at the limit it resolves', async () => {
    const watcher = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await watcher.subscribeAsync('alias/#', { qos: 1 });
    const aliased = { properties: { topicAlias: 1 } };
    for (const topic of [name(LIMIT + 1, 'alias/'), name(LIMIT + 1, '$SYS/')]) {
      const { raw } = await RawMqtt.connect(h.mqttPort, 5);
      raw.send(publishPacket(topic, aliased));
      await raw.expectDisconnect(TOPIC_NAME_INVALID);
    }
    const { raw } = await RawMqtt.connect(h.mqttPort, 5);
    const topic = name(LIMIT, 'alias/');
    raw.send(publishPacket(topic, { ...aliased, payload: Buffer.from('set') }));
    raw.send(publishPacket('', { ...aliased, payload: Buffer.from('use'), messageId: 2 }));
    const got = await watcher.inbox.waitFor(2);
    assert.deepEqual(
      got.map((m) => [m.topic, m.payload.toString()]),
      [
        [topic, 'set'],
        [topic, 'use'],
      ],
    );
    raw.destroy();
    await endAll(watcher);
  });

  test('MQTT response topics past the limit: PUBLISH DISCONNECT 0x90, will CONNACK 0x90; at the limit they travel', async () => {
    const watcher = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await watcher.subscribeAsync('req', { qos: 1 });
    const { raw } = await RawMqtt.connect(h.mqttPort, 5);
    const publish = (responseTopic: string, messageId: number) =>
      raw.send(publishPacket('req', { messageId, properties: { responseTopic } }));
    publish(name(LIMIT), 1);
    const [request] = await watcher.inbox.waitFor(1);
    assert.equal(request?.packet.properties?.responseTopic, name(LIMIT));
    publish(name(LIMIT + 1), 2);
    const disconnect = await raw.expectDisconnect(TOPIC_NAME_INVALID);
    assert.match(disconnect.properties?.reasonString ?? '', /response topic/);

    const will = (responseTopic: string) => ({
      topic: 'req',
      payload: Buffer.from('w'),
      qos: 0 as const,
      retain: false,
      properties: { responseTopic },
    });
    const willer = await RawMqtt.open(h.mqttPort, 5);
    willer.send(connectPacket(5, { will: will(name(LIMIT + 1)) }));
    assert.equal(((await willer.next('connack')) as IConnackPacket).reasonCode, TOPIC_NAME_INVALID);
    await willer.expectClosed();
    const { raw: fine } = await RawMqtt.connect(h.mqttPort, 5, { will: will(name(LIMIT)) });
    fine.destroy();
    const [, fromWill] = await watcher.inbox.waitFor(2);
    assert.equal(fromWill?.packet.properties?.responseTopic, name(LIMIT));
    await endAll(watcher);
  });

  test('MQTT.js: a filter past the limit is refused in its SUBACK, a topic past it ends the connection', async () => {
    const client = await mqttClient(h.tcpUrl, { protocolVersion: 5, reconnectPeriod: 0 });
    await assert.rejects(
      client.subscribeAsync(name(LIMIT + 1), { qos: 1 }),
      (err: Error & { packet?: ISubackPacket }) => {
        assert.match(err.message, /Topic Filter invalid/);
        assert.deepEqual(err.packet?.granted, [TOPIC_FILTER_INVALID]);
        return true;
      },
    );
    assert.deepEqual(
      (await client.subscribeAsync(name(LIMIT), { qos: 1 })).map((g) => g.qos),
      [1],
    );
    client.publish(name(LIMIT + 1), 'x', { qos: 1 });
    assert.equal((await client.gone)?.reasonCode, TOPIC_NAME_INVALID);
    client.end(true);
  });

  test('mosquitto_sub and mosquitto_pub: past the limit refused, at the limit delivered', async () => {
    const base = ['-h', '127.0.0.1', '-p', String(h.mqttPort), '-V', 'mqttv5'];
    const denied = await run('/usr/bin/mosquitto_sub', [...base, '-t', name(LIMIT + 1), '-W', '5']).done;
    // mosquitto_sub 2.0 exits 0 once its only subscription is refused, saying so.
    assert.match(denied.stderr, /All subscription requests were denied/);
    const id = uniqueId('mosq-sub');
    const sub = run('/usr/bin/mosquitto_sub', [...base, '-i', id, '-t', name(LIMIT), '-C', '1', '-W', '8']);
    const deadline = Date.now() + 5000;
    while ((h.server.mqtt?.sessions.get(id)?.subscriptions.size ?? 0) < 1 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    const tooLong = await run('/usr/bin/mosquitto_pub', [
      ...base,
      '-t',
      name(LIMIT + 1),
      '-q',
      '1',
      '-m',
      'x',
    ]).done;
    assert.notEqual(tooLong.code, 0, 'mosquitto_pub is disconnected');
    const fits = await run('/usr/bin/mosquitto_pub', [...base, '-t', name(LIMIT), '-q', '1', '-m', 'fits'])
      .done;
    assert.equal(fits.code, 0, fits.stderr);
    const received = await sub.done;
    assert.equal(received.code, 0, received.stderr);
    assert.equal(received.stdout.trim(), 'fits');
  });
});
