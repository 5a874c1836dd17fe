import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import type { ISubackPacket } from 'mqtt-packet';
import WebSocket from 'ws';
import { Inbox, RawWs, metricValue, scrape, sleep, wsClient } from './helpers.js';
import { RawMqtt, endAll, mqttClient, withMqtt } from './mqtt-helpers.js';

const QUOTA_EXCEEDED = 0x97;

type Reply = { type: string; id?: number; code?: number; message?: string; channel?: string };

/** Sends every frame and returns the reply to each, by id. */
async function request(raw: RawWs, frames: (Reply & Record<string, unknown>)[]): Promise<Map<number, Reply>> {
  const before = raw.frames.items.length;
  for (const f of frames) raw.send(f);
  const items = await raw.frames.waitFor(before + frames.length);
  const replies = new Map<number, Reply>();
  for (const f of items.slice(before) as Reply[]) if (f.id !== undefined) replies.set(f.id, f);
  return replies;
}

const publishFrames = (raw: RawWs) => raw.frames.items.filter((f) => f.type === 'publish') as Reply[];

describe('$share groups count against limits.max_channels', () => {
  test('native and JSON: each new group is one more channel (its new filter one more); past the limit 1006 / 429', () =>
    withMqtt({ limits: { max_channels: 10 } }, async (h) => {
      const raw = await RawWs.open(h.wsUrl);
      const frames = [{ type: 'subscribe', id: 1, channel: 't/#' }];
      for (let k = 1; k <= 10; k++)
        frames.push({ type: 'subscribe', id: 1 + k, channel: `$share/g${k}/t/#` });
      const replies = await request(raw, frames);
      for (let id = 1; id <= 10; id++) assert.equal(replies.get(id)?.type, 'ack', `subscribe ${id}`);
      const refused = replies.get(11);
      assert.equal(refused?.code, 1006);
      assert.match(refused?.message ?? '', /too many channels \(limit 10\)/);
      const text = await scrape(h);
      assert.equal(metricValue(text, 'pulse_channels'), 10, 't/# and nine groups');
      assert.equal(metricValue(text, 'pulse_shared_groups'), 9);
      const json = new WebSocket(h.wsUrl);
      await once(json, 'open');
      json.send(JSON.stringify({ id: 1, method: 'subscribe', params: { channel: '$share/json/t/#' } }));
      const [reply] = await once(json, 'message');
      assert.equal(JSON.parse(String(reply)).error?.code, 429, 'JSON: too many channels');
      json.close();
      // A second member of an existing group adds nothing.
      const other = await RawWs.open(h.wsUrl);
      assert.equal(
        (await request(other, [{ type: 'subscribe', id: 1, channel: '$share/g1/t/#' }])).get(1)?.type,
        'ack',
      );
      raw.ws.close();
      await once(raw.ws, 'close');
      other.ws.close();
      await once(other.ws, 'close');
      // Leaving frees the places.
      for (let tries = 0; metricValue(await scrape(h), 'pulse_channels') !== 0; tries++) {
        assert.ok(tries < 100, 'channels freed on close');
        await sleep(20);
      }
      assert.equal(metricValue(await scrape(h), 'pulse_shared_groups'), 0);
    }));

  test('MQTT: a group on a new filter takes two places, the group past the limit gets 0x97', () =>
    withMqtt({ limits: { max_channels: 5 } }, async (h) => {
      const { raw } = await RawMqtt.connect(h.mqttPort, 5);
      raw.send({
        cmd: 'subscribe',
        messageId: 1,
        subscriptions: ['$share/a/x', '$share/b/x', '$share/c/x', '$share/d/x', '$share/e/x'].map(
          (topic) => ({
            topic,
            qos: 1 as const,
          }),
        ),
      });
      const { granted } = (await raw.next('suback')) as ISubackPacket;
      assert.deepEqual(granted, [1, 1, 1, 1, QUOTA_EXCEEDED]);
      assert.equal(metricValue(await scrape(h), 'pulse_channels'), 5);
      raw.destroy();
    }));
});

describe('a native or JSON connection receives a publication once, however many groups match', () => {
  test('native in 100 groups and a direct filter: each publication once', () =>
    withMqtt({ limits: { max_subscriptions_per_connection: 200 } }, async (h) => {
      const raw = await RawWs.open(h.wsUrl);
      const frames = [{ type: 'subscribe', id: 1, channel: 'fleet/+' }];
      for (let k = 1; k <= 100; k++)
        frames.push({ type: 'subscribe', id: 1 + k, channel: `$share/g${k}/fleet/#` });
      const replies = await request(raw, frames);
      assert.equal([...replies.values()].filter((r) => r.type === 'ack').length, 101);
      const publisher = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
      for (let i = 0; i < 5; i++) await publisher.publishAsync('fleet/7', `m${i}`, { qos: 1 });
      const json = new WebSocket(h.wsUrl);
      await once(json, 'open');
      const pushes = new Inbox<{ channel?: string; id?: number }>();
      json.on('message', (data, binary) => {
        if (!binary) pushes.push(JSON.parse(data.toString()));
      });
      for (let k = 1; k <= 20; k++) {
        json.send(
          JSON.stringify({ id: k, method: 'subscribe', params: { channel: `$share/j${k}/fleet/#` } }),
        );
      }
      await pushes.waitFor(20);
      await publisher.publishAsync('fleet/8', 'json', { qos: 1 });
      await pushes.waitFor(21);
      await sleep(200);
      assert.deepEqual(
        publishFrames(raw).map((f) => f.channel),
        ['fleet/7', 'fleet/7', 'fleet/7', 'fleet/7', 'fleet/7', 'fleet/8'],
      );
      assert.equal(pushes.items.filter((p) => p.id === undefined).length, 1, 'the JSON side once too');
      await endAll(publisher);
      raw.ws.close();
      json.close();
    }));

  test('a group passes over a member that already has the publication: no message is lost to the group', () =>
    withMqtt({}, async (h) => {
      const a = await RawWs.open(h.wsUrl);
      const b = await RawWs.open(h.wsUrl);
      await request(a, [
        { type: 'subscribe', id: 1, channel: 'jobs' },
        { type: 'subscribe', id: 2, channel: '$share/w/jobs' },
      ]);
      await request(b, [{ type: 'subscribe', id: 1, channel: '$share/w/jobs' }]);
      const publisher = await RawWs.open(h.wsUrl);
      const sends = Array.from({ length: 6 }, (_, i) => ({
        type: 'publish',
        id: i + 1,
        channel: 'jobs',
        payload: Buffer.from(`j${i}`),
      }));
      await request(publisher, sends);
      await b.frames.waitFor(1 + 1 + 6);
      await sleep(100);
      assert.equal(publishFrames(a).length, 6, 'A: each once, through its own filter');
      assert.equal(publishFrames(b).length, 6, 'B: each through the group, as A already had it');
      for (const raw of [a, b, publisher]) raw.ws.close();
    }));

  test('MQTT keeps a copy per shared subscription (MQTT 5 §4.8.2), as Mosquitto does', () =>
    withMqtt({}, async (h) => {
      const client = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
      await client.subscribeAsync(['work/+', '$share/a/work/#', '$share/b/work/#', '$share/c/work/1'], {
        qos: 1,
      });
      const publisher = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
      await publisher.publishAsync('work/1', 'x', { qos: 1 });
      await client.inbox.waitFor(4);
      await sleep(100);
      assert.equal(client.inbox.items.length, 4, 'one through work/+ and one per group');
      await endAll(client, publisher);
    }));

  test("the client SDK hands a publication that came through a group to that subscription's handler", () =>
    withMqtt({}, async (h) => {
      const worker = await wsClient(h);
      const publisher = await wsClient(h);
      const jobs = new Inbox<{ channel: string }>();
      await worker.subscribe('$share/workers/orders/#', jobs.push);
      await publisher.publish('orders/1', 'a');
      await publisher.publish('orders/2/x', 'b');
      await publisher.publish('elsewhere', 'c');
      const got = await jobs.waitFor(2);
      await sleep(100);
      assert.deepEqual(
        got.map((p) => p.channel),
        ['orders/1', 'orders/2/x'],
      );
      worker.close();
      publisher.close();
    }));
});
