import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { IConnackPacket, IPublishPacket } from 'mqtt-packet';
import { RawWs } from './helpers.js';
import {
  type MqttHarness,
  RawMqtt,
  connectPacket,
  endAll,
  mqttClient,
  startMqtt,
  uniqueId,
} from './mqtt-helpers.js';
import { bystanders, subscribe } from './name-limit-helpers.js';
import { nameLimitInEveryProtocol } from './name-limit-suite.js';

const TOPIC_FILTER_INVALID = 0x8f;
const TOPIC_NAME_INVALID = 0x90;
const KEY = 'topic-depth-test-key-0123456789';

/** `prefix` followed by `levels` levels of `level`. */
const deep = (levels: number, level = 'a', prefix = '') =>
  prefix + Array.from({ length: levels }, () => level).join('/');

describe('the deep-topic attack: a 5,000-level filter and will', () => {
  test('default limit: the filter gets SUBACK 0x8F, the will CONNACK 0x90; the server and bystanders carry on', async () => {
    const h = await startMqtt();
    const others = await bystanders(h);
    try {
      await others.stillDeliver();
      const { raw: subscriber } = await RawMqtt.connect(h.mqttPort, 5);
      assert.deepEqual(await subscribe(subscriber, [deep(5000, '+')]), [TOPIC_FILTER_INVALID]);

      const willer = await RawMqtt.open(h.mqttPort, 5);
      willer.send(
        connectPacket(5, { will: { topic: deep(5000), payload: Buffer.from('bye'), qos: 0, retain: false } }),
      );
      const connack = (await willer.next('connack')) as IConnackPacket;
      assert.equal(connack.reasonCode, TOPIC_NAME_INVALID);
      willer.destroy();

      const v4 = await RawMqtt.open(h.mqttPort, 4);
      v4.send(
        connectPacket(4, { will: { topic: deep(5000), payload: Buffer.from('bye'), qos: 0, retain: false } }),
      );
      assert.equal(((await v4.next('connack')) as IConnackPacket).returnCode, 5, '3.1.1: not authorized');
      v4.destroy();

      await others.stillDeliver();
      subscriber.destroy();
    } finally {
      await others.close();
      await h.stop();
    }
  });

  test('with the limit raised to 20,000 the walk is iterative: the will reaches the 20,000-level filter', async () => {
    // The recursive trie walk of old overflowed the stack here, in the socket's close path.
    const h = await startMqtt({ limits: { max_topic_levels: 20_000, max_channel_length: 65_535 } });
    const others = await bystanders(h);
    try {
      const { raw: subscriber } = await RawMqtt.connect(h.mqttPort, 5);
      assert.deepEqual(await subscribe(subscriber, [deep(20_000, '+')]), [0]);
      const willTopic = deep(20_000);
      const { raw: willer } = await RawMqtt.connect(h.mqttPort, 5, {
        will: { topic: willTopic, payload: Buffer.from('bye'), qos: 0, retain: false },
      });
      willer.destroy();
      const will = (await subscriber.next('publish', 5000)) as IPublishPacket;
      assert.equal(will.topic, willTopic);
      assert.equal(will.payload.toString(), 'bye');
      await others.stillDeliver();
      subscriber.destroy();
    } finally {
      await others.close();
      await h.stop();
    }
  });

  test('a user confined by ACL to devices/alice/# is refused the same inside its subtree', async () => {
    const h = await startMqtt({
      auth: {
        enabled: true,
        users: [{ username: 'alice', password_hash: '', password: 'alice-pass' }],
        acl: [{ username: 'alice', action: 'all', topic_filter: 'devices/alice/#' }],
      },
    });
    try {
      const login = { username: 'alice', password: Buffer.from('alice-pass') };
      const { raw } = await RawMqtt.connect(h.mqttPort, 5, login);
      assert.deepEqual(await subscribe(raw, [deep(5000, '+', 'devices/alice/'), 'devices/alice/+/status']), [
        TOPIC_FILTER_INVALID,
        0,
      ]);
      const willer = await RawMqtt.open(h.mqttPort, 5);
      willer.send(
        connectPacket(5, {
          ...login,
          clientId: uniqueId('alice'),
          will: {
            topic: deep(5000, 'a', 'devices/alice/'),
            payload: Buffer.from('x'),
            qos: 0,
            retain: false,
          },
        }),
      );
      assert.equal(((await willer.next('connack')) as IConnackPacket).reasonCode, TOPIC_NAME_INVALID);
      willer.destroy();
      // The ACL-confined session still works.
      const publisher = await mqttClient(h.tcpUrl, { ...login, password: 'alice-pass', protocolVersion: 5 });
      await publisher.publishAsync('devices/alice/lamp/status', 'on', { qos: 1 });
      const got = (await raw.next('publish')) as IPublishPacket;
      assert.equal(got.topic, 'devices/alice/lamp/status');
      await endAll(publisher);
      raw.destroy();
    } finally {
      await h.stop();
    }
  });
});

describe('limits.max_topic_levels in every protocol', () => {
  let h: MqttHarness;
  before(async () => {
    h = await startMqtt({ limits: { max_topic_levels: 8 }, auth: { api_keys: [KEY] } });
  });
  after(() => h.stop());

  nameLimitInEveryProtocol(() => h, {
    filterOver: deep(9, '+'),
    filterAt: deep(8, '+'),
    sharedOver: `$share/g/${deep(9, '+')}`,
    sharedAt: `$share/g/${deep(8, '+')}`,
    topicOver: deep(9),
    topicAt: deep(8),
    message: /more than 8 topic levels/,
    apiKey: KEY,
  });

  test('a $share filter that is itself shared is refused, not checked by recursion', async () => {
    const nested = `${'$share/g/'.repeat(6000)}a`;
    const { raw } = await RawMqtt.connect(h.mqttPort, 5);
    assert.deepEqual(await subscribe(raw, [nested]), [TOPIC_FILTER_INVALID]);
    raw.destroy();
    const native = await RawWs.open(h.wsUrl);
    native.send({ type: 'subscribe', id: 1, channel: '$share/g/$share/h/a' });
    const error = (await native.frame(1)) as { code: number; message: string };
    assert.equal(error.code, 1002);
    assert.match(error.message, /cannot be shared/);
    native.ws.close();
  });
});
