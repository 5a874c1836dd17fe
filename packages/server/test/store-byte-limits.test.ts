import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { IPubackPacket } from 'mqtt-packet';
import { PulseError } from '@pulse/client';
import WebSocket from 'ws';
import { startServer, tcpClient, wsClient } from './helpers.js';
import { RawMqtt, endAll, metric, mqttClient, withMqtt } from './mqtt-helpers.js';

/** One JSON-protocol request over a fresh WebSocket; resolves with the reply. */
async function jsonRequest(
  url: string,
  request: object,
): Promise<{ error?: { code: number; message: string } }> {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const reply = new Promise<string>((resolve) => ws.once('message', (data) => resolve(String(data))));
  ws.send(JSON.stringify(request));
  const text = await reply;
  ws.close();
  return JSON.parse(text);
}

test('mqtt.max_retained_bytes: a retained publication past it is refused with 0x97 naming the key; properties count', async () => {
  await withMqtt(
    { mqtt: { max_retained_bytes: 100_000, max_user_property_bytes: 65_536, sys_interval_ms: 50 } },
    async (h) => {
      const pub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
      const payload = Buffer.alloc(30_000, 0x61);
      for (let i = 0; i < 3; i++) await pub.publishAsync(`rb/${i}`, payload, { qos: 1, retain: true });
      assert.equal(await metric(h, 'pulse_mqtt_retained_bytes'), 3 * (30_000 + 4));
      // $SYS topics (every 50 ms) are outside the limit, as for max_retained_messages.
      await assert.rejects(pub.publishAsync('rb/3', payload, { qos: 1, retain: true }), { code: 0x97 });
      const { raw } = await RawMqtt.connect(h.mqttPort, 5);
      // A small payload with 20 KB of user properties does not fit either.
      raw.send({
        cmd: 'publish',
        topic: 'rb/props',
        payload: Buffer.from('x'),
        qos: 1,
        messageId: 1,
        retain: true,
        dup: false,
        properties: { userProperties: { big: 'p'.repeat(20_000) } },
      });
      const refused = (await raw.next('puback')) as IPubackPacket;
      assert.equal(refused.reasonCode, 0x97);
      assert.match(String(refused.properties?.reasonString), /mqtt\.max_retained_bytes/);
      // Replacing with fewer bytes and clearing are always possible, and make room.
      await pub.publishAsync('rb/0', 'small', { qos: 1, retain: true });
      await pub.publishAsync('rb/1', '', { qos: 1, retain: true });
      await pub.publishAsync('rb/3', payload, { qos: 1, retain: true });
      // QoS 0 past the limit: dropped and counted.
      raw.send({
        cmd: 'publish',
        topic: 'rb/4',
        payload: Buffer.alloc(50_000),
        qos: 0,
        retain: true,
        dup: false,
      });
      raw.send({ cmd: 'pingreq' });
      await raw.next('pingresp');
      assert.equal(await metric(h, 'pulse_mqtt_retained_bytes'), 5 + 4 + 2 * (30_000 + 4));
      assert.equal(await metric(h, 'pulse_mqtt_retained_refused_total{limit="bytes"}'), 3);
      assert.equal(await metric(h, 'pulse_mqtt_retained_refused_total{limit="messages"}'), 0);
      const sub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
      await sub.subscribeAsync('rb/#', { qos: 1 });
      const got = await sub.inbox.waitFor(3);
      assert.deepEqual(got.map((m) => `${m.topic}:${m.payload.length}`).sort(), [
        'rb/0:5',
        'rb/2:30000',
        'rb/3:30000',
      ]);
      raw.destroy();
      await endAll(pub, sub);
    },
  );
});

test('history max_bytes per channel and limits.max_history_bytes: the oldest publications go, memory stays bounded', async () => {
  const h = await startServer({
    history: [{ pattern: 'big:*', size: 1000, ttl_ms: 0, max_bytes: 65_536 }],
    limits: { max_history_bytes: 262_144, max_message_size: 16_384 },
  });
  try {
    const pub = await tcpClient(h);
    const payload = Buffer.alloc(16_000, 0x62);
    // 10 channels x 20 publications of 16 KB: 3.2 MB offered, size = 1000 would keep all of it.
    for (let round = 0; round < 20; round++) {
      await Promise.all(Array.from({ length: 10 }, (_, c) => pub.publish(`big:${c}`, payload)));
    }
    const held = await metric(h, 'pulse_history_bytes');
    assert.ok(held <= 262_144, `history holds ${held} bytes`);
    assert.ok(held > 262_144 - 16_100, `and uses its budget (${held} bytes)`);
    const reader = await wsClient(h);
    let entries = 0;
    for (let c = 0; c < 10; c++) {
      const page = await reader.history(`big:${c}`);
      const offsets = page.publications.map((p) => p.offset as number);
      assert.ok(offsets.length <= 4, `big:${c} keeps at most 64 KiB: ${offsets.length} entries`);
      // What is kept is the newest run: contiguous, ending at the stream's offset.
      assert.deepEqual(
        offsets,
        Array.from({ length: offsets.length }, (_, i) => 21 - offsets.length + i),
      );
      entries += offsets.length;
    }
    assert.equal(await metric(h, 'pulse_history_entries'), entries);
    await Promise.all([pub.close(), reader.close()]);
  } finally {
    await h.stop();
  }
});

test('limits.memory_limit: past it every protocol refuses publications with its quota error, and keeps nothing', async () => {
  // 1 byte: always past it, so that the test does not depend on how much memory the process uses.
  const KEY = 'k'.repeat(32);
  await withMqtt(
    {
      limits: { memory_limit: 1 },
      auth: { api_keys: [KEY] },
      mqtt: { sys_interval_ms: 0 },
      history: [{ pattern: 'mem:*', size: 10, ttl_ms: 0 }],
    },
    async (h) => {
      const native = await tcpClient(h);
      await native.subscribe('mem:x', () => {});
      await assert.rejects(native.publish('mem:x', 'hi'), (err: unknown) => {
        assert.ok(err instanceof PulseError);
        assert.equal(err.code, 1006);
        assert.match(err.message, /limits\.memory_limit/);
        return true;
      });
      const json = await jsonRequest(h.wsUrl, {
        id: 1,
        method: 'publish',
        params: { channel: 'mem:x', data: 1 },
      });
      assert.equal(json.error?.code, 429);
      assert.match(String(json.error?.message), /limits\.memory_limit/);
      const res = await fetch(`${h.httpUrl}/api/publish`, {
        method: 'POST',
        headers: { 'x-api-key': KEY, 'content-type': 'application/json' },
        body: JSON.stringify({ channel: 'mem:x', data: 'hi' }),
      });
      assert.equal(res.status, 429);
      const mqttPub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
      await assert.rejects(mqttPub.publishAsync('mem/t', 'r', { qos: 1, retain: true }), { code: 0x97 });
      assert.equal(await metric(h, 'pulse_mqtt_retained'), 0, 'nothing retained');
      assert.equal(await metric(h, 'pulse_history_entries'), 0, 'nothing kept in history');
      assert.equal(await metric(h, 'pulse_memory_limit_reached'), 1);
      assert.equal(await metric(h, 'pulse_publications_refused_memory_total'), 4);
      // Everything else goes on: subscriptions, health.
      assert.equal((await fetch(`${h.httpUrl}/health`)).status, 200);
      await native.close();
      await endAll(mqttPub);
    },
  );
});

test('lowered byte limits apply at the next start: stored retained messages and history past them are deleted', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-bytes-'));
  const storage = { engine: 'sqlite' as const, path: join(dir, 'pulse.db') };
  const history = [{ pattern: 'kept:*', size: 100, ttl_ms: 0 }];
  const payload = Buffer.alloc(30_000, 0x64);
  try {
    await withMqtt({ storage, history, mqtt: { sys_interval_ms: 0 } }, async (h) => {
      const pub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
      for (let i = 0; i < 3; i++) await pub.publishAsync(`keep/${i}`, payload, { qos: 1, retain: true });
      for (let i = 0; i < 10; i++) await pub.publishAsync('kept:h', payload, { qos: 1 });
      await endAll(pub);
      assert.equal(await metric(h, 'pulse_history_entries'), 10);
    });
    const lowered = {
      storage,
      history,
      limits: { max_history_bytes: 100_000 },
      mqtt: { sys_interval_ms: 0, max_retained_bytes: 70_000 },
    };
    await withMqtt(lowered, async (h) => {
      assert.equal(await metric(h, 'pulse_mqtt_retained'), 2);
      assert.ok((await metric(h, 'pulse_mqtt_retained_bytes')) <= 70_000);
      assert.equal(await metric(h, 'pulse_history_entries'), 3);
      const page = await (await wsClient(h)).history('kept:h');
      assert.deepEqual(
        page.publications.map((p) => p.offset),
        [8, 9, 10],
        'the newest are kept',
      );
    });
    // Deleted from the store, not only left out: the defaults do not bring them back.
    await withMqtt({ storage, history, mqtt: { sys_interval_ms: 0 } }, async (h) => {
      assert.equal(await metric(h, 'pulse_mqtt_retained'), 2);
      assert.equal(await metric(h, 'pulse_history_entries'), 3);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
