import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import { once } from 'node:events';
import { test } from 'node:test';
import { type Frame, encodeFrame } from '@pulse/protocol';
import type { IPubackPacket, ISubackPacket, IUnsubackPacket } from 'mqtt-packet';
import WebSocket from 'ws';
import type { PulseConfig } from '../src/config/index.js';
import type { Connection } from '../src/transport/connection.js';
import { type Harness, Inbox, RawTcp, RawWs, metricValue, scrape, sleep, startServer } from './helpers.js';
import {
  type MqttHarness,
  RawMqtt,
  endAll,
  eventually,
  lstr,
  mqttClient,
  mqttClientWithConnack,
  rawPacket,
  refusedConnack,
  withMqtt,
  within,
} from './mqtt-helpers.js';

// biome-ignore lint/suspicious/noExplicitAny: JSON replies are checked field by field
type Json = any;

/** A `ws` client speaking the JSON protocol; binary (native) messages are ignored. */
class JsonWs {
  readonly texts = new Inbox<Json>();
  readonly closed: Promise<number>;
  private nextId = 1;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) this.texts.push(JSON.parse(data.toString('utf8')));
    });
    this.closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));
  }

  static async open(url: string): Promise<JsonWs> {
    const ws = new WebSocket(url);
    const client = new JsonWs(ws);
    await once(ws, 'open');
    return client;
  }

  /** Sends a request without waiting; returns its id. */
  send(method: string, params?: unknown): number {
    const id = this.nextId++;
    this.ws.send(JSON.stringify({ id, method, params }));
    return id;
  }

  /** The text messages after the first `from`, waiting for `n` of them. */
  async take(from: number, n: number): Promise<Json[]> {
    return (await this.texts.waitFor(from + n)).slice(from, from + n);
  }
}

function publishFrame(id: number, payloadBytes = 1): Frame {
  return { type: 'publish', id, channel: 'rl', payload: Buffer.alloc(payloadBytes, 0x61) };
}

/** A server with these limits and no $SYS publications (so that broker counts are the test's own). */
const start = (limits: Partial<PulseConfig['limits']>) =>
  startServer({ mqtt: { sys_interval_ms: 0 }, limits });

async function metric(h: Harness, name: string): Promise<number> {
  const value = metricValue(await scrape(h), name);
  return Number.isNaN(value) ? 0 : value;
}

const limited = (protocol: string, limit: string) =>
  `pulse_rate_limited_total{protocol="${protocol}",limit="${limit}"}`;
const disconnects = (protocol: string) => `pulse_rate_limit_disconnects_total{protocol="${protocol}"}`;
const rejected = (reason: string) => `pulse_connections_rejected_total{reason="${reason}"}`;

function openConnections(h: Harness): Connection[] {
  return [...(h.server as unknown as { connections: Set<Connection> }).connections];
}

// --- native --------------------------------------------------------------------------------------

test('native: past messages_per_second a frame gets error 1006 and is not handled; ping passes; it refills', async () => {
  const h = await start({ messages_per_second: 5, rate_limit_disconnect_after: 100 });
  try {
    const raw = await RawTcp.open(h.tcpPort);
    // Eight publications in one write: five go through, three are refused.
    raw.socket.write(Buffer.concat(Array.from({ length: 8 }, (_, i) => encodeFrame(publishFrame(i + 1)))));
    const replies = (await raw.frames.waitFor(9)).slice(1) as Json[];
    assert.deepEqual(
      replies.map((f) => [f.type, f.id]),
      [
        ['ack', 1],
        ['ack', 2],
        ['ack', 3],
        ['ack', 4],
        ['ack', 5],
        ['error', 6],
        ['error', 7],
        ['error', 8],
      ],
    );
    for (const e of replies.slice(5)) {
      assert.equal(e.code, 1006);
      assert.match(e.message, /rate limited: over 5 messages per second/);
    }
    assert.equal(h.server.broker.stats.publications, 5, 'the refused frames were not handled');
    raw.send({ type: 'ping', timestamp: 7 });
    assert.equal(((await raw.frames.waitFor(10))[9] as Json).type, 'pong', 'ping is never limited');
    await sleep(300); // 1.5 tokens back at 5/s
    raw.send(publishFrame(9));
    assert.deepEqual(((await raw.frames.waitFor(11))[10] as Json).type, 'ack', 'refilled');
    assert.equal(await metric(h, limited('native', 'messages')), 3);
    assert.equal(await metric(h, 'pulse_errors_total{code="1006",name="RateLimited"}'), 3);
    raw.socket.destroy();
  } finally {
    await h.stop();
  }
});

test('native over WebSocket: rate_limit_disconnect_after limited frames in a row close the connection (1008)', async () => {
  const h = await start({ messages_per_second: 2, rate_limit_disconnect_after: 3 });
  try {
    const raw = await RawWs.open(h.wsUrl);
    for (let i = 1; i <= 6; i++) raw.send(publishFrame(i));
    assert.equal(await within(raw.closed, 3000, 'the close'), 1008);
    const replies = raw.frames.items.slice(1) as Json[];
    assert.deepEqual(
      replies.map((f) => [f.type, f.id, f.code]),
      [
        ['ack', 1, undefined],
        ['ack', 2, undefined],
        ['error', 3, 1006],
        ['error', 4, 1006],
        ['error', 5, 1006],
      ],
      'nothing after the third refusal in a row',
    );
    assert.match(replies[4].message, /too many times in a row: closing/);
    await eventually(() => h.server.connectionCount === 0, 'the server to drop the connection');
    assert.equal(await metric(h, limited('native', 'messages')), 3);
    assert.equal(await metric(h, disconnects('native')), 1);
  } finally {
    await h.stop();
  }
});

test('native: an admitted frame resets the count of limited frames in a row', async () => {
  const h = await start({ messages_per_second: 10, rate_limit_disconnect_after: 3 });
  try {
    const raw = await RawTcp.open(h.tcpPort);
    let id = 0;
    let seen = 1;
    const burst = async (n: number): Promise<string[]> => {
      raw.socket.write(Buffer.concat(Array.from({ length: n }, () => encodeFrame(publishFrame(++id)))));
      seen += n;
      return ((await raw.frames.waitFor(seen)).slice(seen - n) as Json[]).map((f) => f.type);
    };
    // A full bucket (10) and two refused: two in a row.
    assert.deepEqual((await burst(12)).slice(9), ['ack', 'error', 'error']);
    await sleep(150); // 1.5 tokens back
    // One admitted resets the count; two more refused are two in a row again, not four.
    assert.deepEqual(await burst(3), ['ack', 'error', 'error']);
    raw.send({ type: 'ping' });
    await raw.frames.waitFor(seen + 1);
    assert.equal(h.server.connectionCount, 1, 'still connected');
    raw.socket.destroy();
  } finally {
    await h.stop();
  }
});

test('native: past bytes_per_second frames get error 1006 until the debt is paid back', async () => {
  const h = await start({ bytes_per_second: 1000, rate_limit_disconnect_after: 100 });
  try {
    const raw = await RawTcp.open(h.tcpPort);
    raw.send(publishFrame(1, 600)); // ~630 bytes of 1000
    assert.equal(((await raw.frames.waitFor(2))[1] as Json).type, 'ack');
    raw.send(publishFrame(2, 600)); // ~260 bytes over
    const refused = (await raw.frames.waitFor(3))[2] as Json;
    assert.deepEqual([refused.type, refused.id, refused.code], ['error', 2, 1006]);
    assert.match(refused.message, /over 1000 bytes per second/);
    raw.send({ type: 'ping' });
    assert.equal(((await raw.frames.waitFor(4))[3] as Json).type, 'pong');
    await sleep(450); // ~450 bytes back: out of debt
    raw.send(publishFrame(3, 10));
    assert.equal(((await raw.frames.waitFor(5))[4] as Json).type, 'ack');
    assert.equal(await metric(h, limited('native', 'bytes')), 1);
    assert.equal(await metric(h, limited('native', 'messages')), 0);
    raw.socket.destroy();
  } finally {
    await h.stop();
  }
});

// --- JSON ----------------------------------------------------------------------------------------

test('JSON: past messages_per_second a request gets error 429; ping passes; it refills', async () => {
  const h = await start({ messages_per_second: 3, rate_limit_disconnect_after: 100 });
  try {
    const c = await JsonWs.open(h.wsUrl);
    for (let i = 0; i < 5; i++) c.send('publish', { channel: 'rl', data: { i } });
    const replies = await c.take(0, 5);
    assert.deepEqual(
      replies.map((r) => [r.id, r.error?.code ?? 'ok']),
      [
        [1, 'ok'],
        [2, 'ok'],
        [3, 'ok'],
        [4, 429],
        [5, 429],
      ],
    );
    assert.match(replies[4].error.message, /rate limited: over 3 messages per second/);
    assert.equal(h.server.broker.stats.publications, 3);
    c.send('ping');
    assert.deepEqual((await c.take(5, 1))[0], { id: 6, result: {} });
    await sleep(400); // 1.2 requests back at 3/s
    c.send('publish', { channel: 'rl', data: 1 });
    assert.deepEqual((await c.take(6, 1))[0], { id: 7, result: {} });
    assert.equal(await metric(h, limited('json', 'messages')), 2);
    assert.equal(await metric(h, 'pulse_json_errors_total{code="429"}'), 2);
    c.ws.close();
  } finally {
    await h.stop();
  }
});

test('JSON: repeated abuse gets 429, a disconnect push and close 1008', async () => {
  const h = await start({ messages_per_second: 1, rate_limit_disconnect_after: 2 });
  try {
    const c = await JsonWs.open(h.wsUrl);
    for (let i = 0; i < 4; i++) c.send('subscribe', { channel: `rl${i}` });
    assert.equal(await within(c.closed, 3000, 'the close'), 1008);
    const texts = c.texts.items;
    assert.deepEqual(
      texts.map((t) => t.error?.code ?? t.method ?? 'ok'),
      ['ok', 429, 429, 'disconnect'],
    );
    assert.match(texts[2].error.message, /too many times in a row: closing/);
    assert.deepEqual(texts[3], { method: 'disconnect', params: { reason: 'rate limited' } });
    assert.equal(await metric(h, disconnects('json')), 1);
  } finally {
    await h.stop();
  }
});

test('JSON: past bytes_per_second requests get 429', async () => {
  const h = await start({ bytes_per_second: 700, rate_limit_disconnect_after: 100 });
  try {
    const c = await JsonWs.open(h.wsUrl);
    c.send('publish', { channel: 'rl', data: 'x'.repeat(500) });
    assert.deepEqual((await c.take(0, 1))[0], { id: 1, result: {} });
    c.send('publish', { channel: 'rl', data: 'x'.repeat(500) });
    const refused = (await c.take(1, 1))[0];
    assert.equal(refused.error.code, 429);
    assert.match(refused.error.message, /over 700 bytes per second/);
    c.send('ping');
    assert.deepEqual((await c.take(2, 1))[0], { id: 3, result: {} }, 'ping is never limited');
    assert.equal(await metric(h, limited('json', 'bytes')), 1);
    c.ws.close();
  } finally {
    await h.stop();
  }
});

// --- MQTT ----------------------------------------------------------------------------------------

async function subscriber(h: MqttHarness) {
  const sub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
  await sub.subscribeAsync('rl/#', { qos: 1 });
  return sub;
}

test('MQTT 5: past messages_per_second PUBACK/PUBREC/SUBACK 0x97, UNSUBACK 0x80, nothing routed; acks and PINGREQ pass', async () => {
  await withMqtt({ limits: { messages_per_second: 2, rate_limit_disconnect_after: 100 } }, async (h) => {
    const sub = await subscriber(h);
    const { raw } = await RawMqtt.connect(h.mqttPort, 5);
    for (let id = 1; id <= 3; id++) {
      raw.send({
        cmd: 'publish',
        topic: 'rl/a',
        payload: Buffer.from(`m${id}`),
        qos: 1,
        messageId: id,
        dup: false,
        retain: false,
      });
    }
    for (let id = 1; id <= 3; id++) {
      const ack = (await raw.next('puback')) as IPubackPacket;
      assert.equal(ack.messageId, id);
      assert.equal(ack.reasonCode ?? 0, id <= 2 ? 0 : 0x97, `PUBACK ${id}`);
    }
    raw.send({
      cmd: 'publish',
      topic: 'rl/a',
      payload: Buffer.from('q2'),
      qos: 2,
      messageId: 4,
      dup: false,
      retain: false,
    });
    const pubrec = (await raw.next('pubrec')) as IPubackPacket;
    assert.equal(pubrec.reasonCode, 0x97);
    raw.send({
      cmd: 'subscribe',
      messageId: 5,
      subscriptions: [
        { topic: 'a', qos: 0 },
        { topic: 'b', qos: 1 },
      ],
    });
    assert.deepEqual(((await raw.next('suback')) as ISubackPacket).granted, [0x97, 0x97]);
    raw.send({ cmd: 'unsubscribe', messageId: 6, unsubscriptions: ['a'] });
    assert.deepEqual(((await raw.next('unsuback')) as IUnsubackPacket).granted, [0x80]);
    raw.send({ cmd: 'pingreq' });
    await raw.next('pingresp');
    await sleep(100);
    assert.deepEqual(
      sub.inbox.items.map((m) => m.payload.toString()),
      ['m1', 'm2'],
    );
    await sleep(500); // a token back at 2/s
    raw.send({
      cmd: 'publish',
      topic: 'rl/a',
      payload: Buffer.from('m7'),
      qos: 1,
      messageId: 7,
      dup: false,
      retain: false,
    });
    assert.equal(((await raw.next('puback')) as IPubackPacket).reasonCode ?? 0, 0, 'refilled');
    await sub.inbox.waitFor(3);
    assert.equal(await metric(h, limited('mqtt', 'messages')), 4);
    assert.equal(await metric(h, disconnects('mqtt')), 0);
    raw.destroy();
    await endAll(sub);
  });
});

test('MQTT: PUBLISH packets past messages_per_second are counted in pulse_mqtt_packets_in_total{type="publish"} like the others received', async () => {
  await withMqtt(
    { mqtt: { sys_interval_ms: 0 }, limits: { messages_per_second: 2, rate_limit_disconnect_after: 100 } },
    async (h) => {
      const { raw } = await RawMqtt.connect(h.mqttPort, 5);
      const publish = rawPacket(0x30, lstr('rl/in'), [0], Buffer.from('x')); // v5: no properties
      for (let i = 0; i < 10; i++) raw.write(publish);
      raw.send({ cmd: 'pingreq' });
      await raw.next('pingresp');
      const text = await scrape(h);
      assert.equal(metricValue(text, limited('mqtt', 'messages')), 8, 'eight of the ten limited');
      // Received packets, by type: the limited ones were received as much as the two let through.
      assert.equal(metricValue(text, 'pulse_mqtt_packets_in_total{type="publish"}'), 10);
      assert.equal(metricValue(text, 'pulse_mqtt_packets_in_total{type="pingreq"}'), 1);
      raw.destroy();
    },
  );
});

test('MQTT 5: QoS 0 past the limit is dropped; repeated abuse gets DISCONNECT 0x96', async () => {
  await withMqtt({ limits: { messages_per_second: 1, rate_limit_disconnect_after: 3 } }, async (h) => {
    const sub = await subscriber(h);
    const { raw } = await RawMqtt.connect(h.mqttPort, 5);
    for (let i = 1; i <= 5; i++) {
      raw.send({
        cmd: 'publish',
        topic: 'rl/a',
        payload: Buffer.from(`m${i}`),
        qos: 0,
        dup: false,
        retain: false,
      });
    }
    const bye = await raw.expectDisconnect(0x96);
    assert.match(bye.properties?.reasonString ?? '', /over 1 messages per second/);
    await sleep(100);
    assert.deepEqual(
      sub.inbox.items.map((m) => m.payload.toString()),
      ['m1'],
    );
    assert.equal(await metric(h, limited('mqtt', 'messages')), 3);
    assert.equal(await metric(h, disconnects('mqtt')), 1);
    await endAll(sub);
  });
});

test('MQTT 3.1.1: QoS 0 past the limit is dropped, SUBACK 0x80, and QoS 1 past it closes the connection', async () => {
  await withMqtt({ limits: { messages_per_second: 1, rate_limit_disconnect_after: 100 } }, async (h) => {
    const sub = await subscriber(h);
    const { raw } = await RawMqtt.connect(h.mqttPort, 4);
    for (let i = 1; i <= 3; i++) {
      raw.send({
        cmd: 'publish',
        topic: 'rl/a',
        payload: Buffer.from(`m${i}`),
        qos: 0,
        dup: false,
        retain: false,
      });
    }
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'x', qos: 0 }] });
    assert.deepEqual(((await raw.next('suback')) as ISubackPacket).granted, [0x80]);
    raw.send({ cmd: 'pingreq' });
    await raw.next('pingresp');
    assert.equal(raw.isClosed, false, 'QoS 0 excess does not close');
    raw.send({
      cmd: 'publish',
      topic: 'rl/a',
      payload: Buffer.from('q1'),
      qos: 1,
      messageId: 2,
      dup: false,
      retain: false,
    });
    await raw.expectClosed();
    assert.deepEqual(raw.unread(), [], 'no PUBACK');
    assert.deepEqual(
      sub.inbox.items.map((m) => m.payload.toString()),
      ['m1'],
    );
    assert.equal(await metric(h, limited('mqtt', 'messages')), 4);
    assert.equal(await metric(h, disconnects('mqtt')), 1);
    await endAll(sub);
  });
});

test('MQTT.js 5: a QoS 1 publish past the limit rejects with 0x97; later ones go through', async () => {
  await withMqtt({ limits: { messages_per_second: 2, rate_limit_disconnect_after: 100 } }, async (h) => {
    const client = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await client.publishAsync('rl/a', 'one', { qos: 1 });
    await client.publishAsync('rl/a', 'two', { qos: 1 });
    await assert.rejects(
      client.publishAsync('rl/a', 'three', { qos: 1 }),
      (err: Error & { code?: number }) => {
        assert.equal(err.code, 0x97);
        return true;
      },
    );
    await sleep(550);
    await client.publishAsync('rl/a', 'four', { qos: 1 });
    assert.equal(client.connected, true);
    await endAll(client);
  });
});

test('MQTT: past bytes_per_second, DISCONNECT 0x96 (5) or a plain close (3.1.1)', async () => {
  await withMqtt({ limits: { bytes_per_second: 300, rate_limit_disconnect_after: 100 } }, async (h) => {
    for (const version of [5, 4] as const) {
      const { raw } = await RawMqtt.connect(h.mqttPort, version);
      const payload = Buffer.alloc(200, 0x61);
      raw.send({ cmd: 'publish', topic: 'rl/a', payload, qos: 1, messageId: 1, dup: false, retain: false });
      await raw.next('puback');
      raw.send({ cmd: 'publish', topic: 'rl/a', payload, qos: 1, messageId: 2, dup: false, retain: false });
      if (version === 5) {
        const bye = await raw.expectDisconnect(0x96);
        assert.match(bye.properties?.reasonString ?? '', /over 300 bytes per second/);
      } else {
        await raw.expectClosed();
        assert.deepEqual(raw.unread(), []);
      }
    }
    assert.equal(await metric(h, limited('mqtt', 'bytes')), 2);
    assert.equal(await metric(h, disconnects('mqtt')), 2);
  });
});

// --- per client address --------------------------------------------------------------------------

test('max_connections_per_ip: one too many gets 1006 and is closed (TCP and WebSocket); a close frees a place', async () => {
  const h = await start({ max_connections_per_ip: 2 });
  try {
    const a = await RawTcp.open(h.tcpPort);
    const b = await RawWs.open(h.wsUrl);
    const c = await RawTcp.open(h.tcpPort);
    const refusal = c.frames.items[0] as Json;
    assert.deepEqual([refusal.type, refusal.code], ['error', 1006]);
    assert.match(refusal.message, /too many connections from this address/);
    await within(c.closed, 3000, 'the refused TCP connection to close');
    const d = await RawWs.open(h.wsUrl);
    assert.equal((d.frames.items[0] as Json).code, 1006);
    assert.equal(await d.closed, 1013);
    assert.equal(await metric(h, rejected('ip_max')), 2);
    a.socket.destroy();
    await eventually(() => h.server.connectionCount === 1, 'the server to see the close');
    const e = await RawTcp.open(h.tcpPort);
    assert.equal(at(e.frames.items, 0).type, 'connected');
    b.ws.close();
    e.socket.destroy();
    await eventually(() => h.server.rateLimits.trackedAddresses === 0, 'the address to be forgotten');
  } finally {
    await h.stop();
  }
});

test('connections_per_second_per_ip: the excess gets 1006 and is closed; the bucket refills', async () => {
  const h = await start({ connections_per_second_per_ip: 3 });
  try {
    const ok = [await RawTcp.open(h.tcpPort), await RawWs.open(h.wsUrl), await RawTcp.open(h.tcpPort)];
    const refused = await RawTcp.open(h.tcpPort);
    const refusal = refused.frames.items[0] as Json;
    assert.deepEqual([refusal.type, refusal.code], ['error', 1006]);
    assert.match(refusal.message, /too many new connections from this address/);
    await within(refused.closed, 3000, 'the refused connection to close');
    await sleep(400); // 1.2 connections back at 3/s
    const later = await RawTcp.open(h.tcpPort);
    assert.equal(at(later.frames.items, 0).type, 'connected');
    assert.equal(await metric(h, rejected('ip_rate')), 1);
    for (const r of [...ok, later]) r instanceof RawWs ? r.ws.terminate() : r.socket.destroy();
  } finally {
    await h.stop();
  }
});

test('MQTT connections_per_second_per_ip: CONNACK 0x9F (5) or 3 Server unavailable (3.1.1), over TCP and WebSocket', async () => {
  await withMqtt({ limits: { connections_per_second_per_ip: 2 } }, async (h) => {
    const first = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    const second = await RawMqtt.connect(h.mqttPort, 4);
    assert.equal((await refusedConnack(h.mqttPort, 5)).reasonCode, 0x9f);
    assert.equal((await refusedConnack(h.mqttPort, 4)).returnCode, 3);
    await assert.rejects(
      mqttClientWithConnack(h.mqttWsUrl, { protocolVersion: 5 }),
      (err: Error & { code?: number }) => {
        assert.equal(err.code, 0x9f);
        return true;
      },
    );
    assert.equal(await metric(h, rejected('ip_rate')), 3);
    assert.equal(h.server.mqtt?.stats.connectionsOpen, 2, 'refused connections never got a session');
    second.raw.destroy();
    await endAll(first);
  });
});

test('MQTT max_connections_per_ip: CONNACK 0x97 Quota exceeded (5)', async () => {
  await withMqtt({ limits: { max_connections_per_ip: 1 } }, async (h) => {
    const first = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    assert.equal((await refusedConnack(h.mqttPort, 5)).reasonCode, 0x97);
    assert.equal(await metric(h, rejected('ip_max')), 1);
    await endAll(first);
  });
});

// --- off -----------------------------------------------------------------------------------------

test('every limit at 0 (the default): no limiter, no address kept, nothing refused', async () => {
  await withMqtt({}, async (h) => {
    const limits = h.server.config.limits;
    assert.deepEqual(
      [
        limits.messages_per_second,
        limits.bytes_per_second,
        limits.connections_per_second_per_ip,
        limits.max_connections_per_ip,
      ],
      [0, 0, 0, 0],
    );
    const natives = await Promise.all(Array.from({ length: 20 }, () => RawTcp.open(h.tcpPort)));
    const raw = natives[0];
    assert.ok(raw !== undefined);
    raw.socket.write(
      Buffer.concat(Array.from({ length: 500 }, (_, i) => encodeFrame(publishFrame(i + 1, 2000)))),
    );
    const replies = (await raw.frames.waitFor(501)).slice(1);
    assert.ok(replies.every((f) => f.type === 'ack'));
    const json = await JsonWs.open(h.wsUrl);
    for (let i = 0; i < 100; i++) json.send('publish', { channel: 'rl', data: i });
    assert.ok((await json.take(0, 100)).every((r) => r.result !== undefined));
    const mq = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await Promise.all(Array.from({ length: 50 }, (_, i) => mq.publishAsync('rl/a', String(i), { qos: 1 })));
    assert.ok(
      openConnections(h).every((c) => c.limiter === undefined),
      'no connection has a limiter',
    );
    assert.equal(h.server.rateLimits.trackedAddresses, 0);
    const text = await scrape(h);
    assert.ok(!/pulse_rate_limited_total\{/.test(text), 'no rate-limited series');
    assert.ok(!/reason="ip_/.test(text));
    for (const n of natives) n.socket.destroy();
    json.ws.close();
    await endAll(mq);
  });
});
