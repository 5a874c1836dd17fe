import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import type { IConnackPacket, IPublishPacket, ISubackPacket } from 'mqtt-packet';
import WebSocket from 'ws';
import { Inbox, RawWs, wsClient } from './helpers.js';
import {
  type MqttHarness,
  RawMqtt,
  connectPacket,
  endAll,
  mqttClient,
  startMqtt,
  uniqueId,
} from './mqtt-helpers.js';

const TOPIC_FILTER_INVALID = 0x8f;
const TOPIC_NAME_INVALID = 0x90;
const KEY = 'topic-depth-test-key-0123456789';

/** `prefix` followed by `levels` levels of `level`. */
const deep = (levels: number, level = 'a', prefix = '') =>
  prefix + Array.from({ length: levels }, () => level).join('/');

/** Sends one SUBSCRIBE of `topics` and returns the SUBACK's codes. */
async function subscribe(raw: RawMqtt, topics: string[], qos: 0 | 1 = 0): Promise<number[]> {
  raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: topics.map((topic) => ({ topic, qos })) });
  return ((await raw.next('suback')) as ISubackPacket).granted as number[];
}

/**
 * Two pairs that must keep working whatever an attacker sends: a native subscriber and
 * publisher, and an MQTT subscriber and publisher.
 */
async function bystanders(h: MqttHarness) {
  const nativeSub = await wsClient(h);
  const nativePub = await wsClient(h);
  const nativeInbox = new Inbox<unknown>();
  await nativeSub.subscribe('bystander/native', nativeInbox.push);
  const mqttSub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
  const mqttPub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
  await mqttSub.subscribeAsync('bystander/mqtt', { qos: 1 });
  let sent = 0;
  return {
    /** Both pairs deliver one more message each, in order. */
    async stillDeliver(): Promise<void> {
      sent++;
      await nativePub.publish('bystander/native', `n${sent}`);
      await mqttPub.publishAsync('bystander/mqtt', `m${sent}`, { qos: 1 });
      const native = await nativeInbox.waitFor(sent);
      const mqtt = await mqttSub.inbox.waitFor(sent);
      assert.equal(native.length, sent);
      assert.deepEqual(
        mqtt.map((m) => m.payload.toString()),
        Array.from({ length: sent }, (_, i) => `m${i + 1}`),
      );
    },
    async close(): Promise<void> {
      nativeSub.close();
      nativePub.close();
      await endAll(mqttSub, mqttPub);
    },
  };
}

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
    const h = await startMqtt({ limits: { max_topic_levels: 20_000 } });
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

  test('native: subscribe and publish past the limit get 1002; at the limit they work', async () => {
    const raw = await RawWs.open(h.wsUrl);
    raw.send({ type: 'subscribe', id: 1, channel: deep(9, '+') });
    raw.send({ type: 'subscribe', id: 2, channel: `$share/g/${deep(9, '+')}` });
    raw.send({ type: 'publish', id: 3, channel: deep(9), payload: Buffer.from('x') });
    raw.send({ type: 'presence', id: 4, channel: deep(9), action: 0 });
    raw.send({ type: 'subscribe', id: 5, channel: deep(8, '+') });
    raw.send({ type: 'publish', id: 6, channel: deep(8), payload: Buffer.from('ok') });
    const frames = await raw.frames.waitFor(8);
    const byId = (id: number) => frames.filter((f) => (f as { id?: number }).id === id);
    for (const id of [1, 2, 3, 4]) {
      const [error] = byId(id) as { type: string; code: number; message: string }[];
      assert.ok(error !== undefined);
      assert.equal(error.type, 'error', `frame ${id}`);
      assert.equal(error.code, 1002);
      assert.match(error.message, /more than 8 topic levels/);
    }
    assert.deepEqual(byId(5), [{ type: 'ack', id: 5 }]);
    const publish = frames.find((f) => f.type === 'publish') as { channel: string };
    assert.equal(publish.channel, deep(8));
    raw.ws.close();
  });

  test('JSON: subscribe and publish past the limit get 400', async () => {
    const ws = new WebSocket(h.wsUrl);
    await once(ws, 'open');
    const replies = new Inbox<{ id: number; error?: { code: number; message: string } }>();
    ws.on('message', (data, binary) => {
      if (!binary) replies.push(JSON.parse(data.toString()));
    });
    ws.send(JSON.stringify({ id: 1, method: 'subscribe', params: { channel: deep(9, '+') } }));
    ws.send(JSON.stringify({ id: 2, method: 'publish', params: { channel: deep(9), data: 1 } }));
    ws.send(JSON.stringify({ id: 3, method: 'subscribe', params: { channel: deep(8, '+') } }));
    const got = await replies.waitFor(3);
    assert.equal(got.find((r) => r.id === 1)?.error?.code, 400);
    assert.match(got.find((r) => r.id === 2)?.error?.message ?? '', /more than 8 topic levels/);
    assert.equal(got.find((r) => r.id === 3)?.error, undefined);
    ws.close();
  });

  test('HTTP API: publish past the limit is 400, broadcast says so per channel', async () => {
    const post = (path: string, body: unknown) =>
      fetch(`${h.httpUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': KEY },
        body: JSON.stringify(body),
      });
    const refused = await post('/api/publish', { channel: deep(9), data: 1 });
    assert.equal(refused.status, 400);
    assert.match(await refused.text(), /more than 8 topic levels/);
    const accepted = await post('/api/publish', { channel: deep(8), data: 1 });
    assert.equal(accepted.status, 200);
    const broadcast = (await (
      await post('/api/broadcast', { channels: [deep(9), deep(8)], data: 1 })
    ).json()) as {
      results: { channel: string; error?: { code: number } }[];
    };
    assert.equal(at(broadcast.results, 0).error?.code, 400);
    assert.equal(at(broadcast.results, 1).error, undefined);
  });

  test('MQTT SUBSCRIBE: past the limit v5 gets 0x8F and 3.1.1 0x80, the others are granted', async () => {
    for (const version of [5, 4] as const) {
      const { raw } = await RawMqtt.connect(h.mqttPort, version);
      const bad = version === 5 ? TOPIC_FILTER_INVALID : 0x80;
      assert.deepEqual(await subscribe(raw, [deep(9, '+'), `$share/g/${deep(9, '+')}`, deep(8, '+')], 1), [
        bad,
        bad,
        1,
      ]);
      raw.destroy();
    }
  });

  test('MQTT PUBLISH past the limit: v5 DISCONNECT 0x90, 3.1.1 closes; nothing is routed or retained', async () => {
    const watcher = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await watcher.subscribeAsync('#');
    for (const version of [5, 4] as const) {
      const { raw } = await RawMqtt.connect(h.mqttPort, version);
      raw.send({
        cmd: 'publish',
        topic: deep(9),
        payload: Buffer.from('x'),
        qos: 1,
        messageId: 1,
        retain: true,
        dup: false,
      });
      if (version === 5) await raw.expectDisconnect(TOPIC_NAME_INVALID);
      else await raw.expectClosed();
    }
    const { raw: late } = await RawMqtt.connect(h.mqttPort, 5);
    await subscribe(late, ['#']);
    await late.nothingFor(200, 'publish');
    assert.equal(watcher.inbox.items.length, 0);
    late.destroy();
    await endAll(watcher);
  });

  test('MQTT CONNECT with a will past the limit: v5 CONNACK 0x90, 3.1.1 return code 5', async () => {
    for (const version of [5, 4] as const) {
      const raw = await RawMqtt.open(h.mqttPort, version);
      raw.send(
        connectPacket(version, {
          will: { topic: deep(9), payload: Buffer.from('x'), qos: 0, retain: false },
        }),
      );
      const connack = (await raw.next('connack')) as IConnackPacket;
      assert.equal(
        version === 5 ? connack.reasonCode : connack.returnCode,
        version === 5 ? TOPIC_NAME_INVALID : 5,
      );
      await raw.expectClosed();
    }
    const { raw } = await RawMqtt.connect(h.mqttPort, 5, {
      will: { topic: deep(8), payload: Buffer.from('x'), qos: 0, retain: false },
    });
    raw.destroy();
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
