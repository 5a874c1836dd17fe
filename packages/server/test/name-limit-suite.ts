import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import { once } from 'node:events';
import { test } from 'node:test';
import type { IConnackPacket } from 'mqtt-packet';
import WebSocket from 'ws';
import { Inbox, RawWs } from './helpers.js';
import { type MqttHarness, RawMqtt, connectPacket, endAll, mqttClient } from './mqtt-helpers.js';
import { subscribe } from './name-limit-helpers.js';

const TOPIC_FILTER_INVALID = 0x8f;
const TOPIC_NAME_INVALID = 0x90;

/** Names just past a limit on names and just within it, and what the refusal says. */
export interface NameLimitCase {
  filterOver: string;
  filterAt: string;
  /** A `$share/g/...` name past the limit, and one within it. */
  sharedOver: string;
  sharedAt: string;
  topicOver: string;
  topicAt: string;
  message: RegExp;
  apiKey: string;
}

/**
 * The tests every limit on names passes in every protocol (inside a `describe`; `harness`
 * gives the server started with the limit and `apiKey` in `auth.api_keys`).
 */
export function nameLimitInEveryProtocol(harness: () => MqttHarness, c: NameLimitCase): void {
  test('native: subscribe, $share, publish and presence past the limit get 1002; at the limit they work', async () => {
    const raw = await RawWs.open(harness().wsUrl);
    raw.send({ type: 'subscribe', id: 1, channel: c.filterOver });
    raw.send({ type: 'subscribe', id: 2, channel: c.sharedOver });
    raw.send({ type: 'publish', id: 3, channel: c.topicOver, payload: Buffer.from('x') });
    raw.send({ type: 'presence', id: 4, channel: c.topicOver, action: 0 });
    raw.send({ type: 'subscribe', id: 5, channel: c.filterAt });
    raw.send({ type: 'subscribe', id: 6, channel: c.sharedAt });
    raw.send({ type: 'publish', id: 7, channel: c.topicAt, payload: Buffer.from('ok') });
    const frames = await raw.frames.waitFor(9);
    const byId = (id: number) => frames.filter((f) => (f as { id?: number }).id === id);
    for (const id of [1, 2, 3, 4]) {
      const [error] = byId(id) as { type: string; code: number; message: string }[];
      assert.equal(error?.type, 'error', `frame ${id}`);
      assert.equal(error.code, 1002);
      assert.match(error.message, c.message);
    }
    assert.deepEqual(byId(5), [{ type: 'ack', id: 5 }]);
    assert.deepEqual(byId(6), [{ type: 'ack', id: 6 }]);
    const publish = frames.find((f) => f.type === 'publish') as { channel: string };
    assert.equal(publish.channel, c.topicAt);
    raw.ws.close();
  });

  test('JSON: subscribe and publish past the limit get 400, saying why', async () => {
    const ws = new WebSocket(harness().wsUrl);
    await once(ws, 'open');
    const replies = new Inbox<{ id: number; error?: { code: number; message: string } }>();
    ws.on('message', (data, binary) => {
      if (!binary) replies.push(JSON.parse(data.toString()));
    });
    ws.send(JSON.stringify({ id: 1, method: 'subscribe', params: { channel: c.filterOver } }));
    ws.send(JSON.stringify({ id: 2, method: 'publish', params: { channel: c.topicOver, data: 1 } }));
    ws.send(JSON.stringify({ id: 3, method: 'subscribe', params: { channel: c.filterAt } }));
    const got = await replies.waitFor(3);
    for (const id of [1, 2]) {
      const error = got.find((r) => r.id === id)?.error;
      assert.equal(error?.code, 400);
      assert.match(error.message, c.message);
    }
    assert.equal(got.find((r) => r.id === 3)?.error, undefined);
    ws.close();
  });

  test('HTTP API: publish past the limit is 400, broadcast says so per channel', async () => {
    const post = (path: string, body: unknown) =>
      fetch(`${harness().httpUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': c.apiKey },
        body: JSON.stringify(body),
      });
    const refused = await post('/api/publish', { channel: c.topicOver, data: 1 });
    assert.equal(refused.status, 400);
    assert.match(await refused.text(), c.message);
    assert.equal((await post('/api/publish', { channel: c.topicAt, data: 1 })).status, 200);
    const broadcast = (await (
      await post('/api/broadcast', { channels: [c.topicOver, c.topicAt], data: 1 })
    ).json()) as { results: { error?: { code: number } }[] };
    assert.equal(at(broadcast.results, 0).error?.code, 400);
    assert.equal(at(broadcast.results, 1).error, undefined);
  });

  test('MQTT SUBSCRIBE: past the limit v5 gets 0x8F and 3.1.1 0x80, the others are granted', async () => {
    for (const version of [5, 4] as const) {
      const { raw } = await RawMqtt.connect(harness().mqttPort, version);
      const bad = version === 5 ? TOPIC_FILTER_INVALID : 0x80;
      const filters = [c.filterOver, c.sharedOver, c.filterAt, c.sharedAt];
      assert.deepEqual(await subscribe(raw, filters, 1), [bad, bad, 1, 1]);
      raw.destroy();
    }
  });

  test('MQTT PUBLISH past the limit: v5 DISCONNECT 0x90, 3.1.1 closes; nothing is routed or retained', async () => {
    const h = harness();
    const watcher = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await watcher.subscribeAsync('#');
    for (const version of [5, 4] as const) {
      const { raw } = await RawMqtt.connect(h.mqttPort, version);
      raw.send({
        cmd: 'publish',
        topic: c.topicOver,
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
    const h = harness();
    for (const version of [5, 4] as const) {
      const raw = await RawMqtt.open(h.mqttPort, version);
      raw.send(
        connectPacket(version, {
          will: { topic: c.topicOver, payload: Buffer.from('x'), qos: 0, retain: false },
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
      will: { topic: c.topicAt, payload: Buffer.from('x'), qos: 0, retain: false },
    });
    raw.destroy();
  });
}
