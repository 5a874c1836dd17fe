import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import { once } from 'node:events';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type Publication as NativePublication, PulseClient } from '@pulse/client';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import type { Connection } from '../src/transport/connection.js';
import { type Harness, Inbox, scrape, sleep, startServer, tcpClient, wsClient } from './helpers.js';
import { JsonWs } from './json-ws.js';
import { type MqttHarness, type TestClient, endAll, mqttClient, startMqtt, within } from './mqtt-helpers.js';
import { seededRandom } from './seeded-random.js';

// biome-ignore lint/suspicious/noExplicitAny: API replies are checked field by field
type Json = any;

const KEY = 'api-key-for-tests-0123456789';
const OTHER_KEY = 'second-api-key-for-tests-abcdef';
const HISTORY = [{ pattern: 'hist:*', size: 1000, ttl_ms: 0 }];
/** limits.max_message_size by default; bodies may be 2 × it + 64 KiB. */
const MAX_MESSAGE = 65_536;
const MAX_BODY = 2 * MAX_MESSAGE + 64 * 1024;

interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json: Json;
}

interface CallOptions {
  /** The x-api-key header; null sends none. */
  key?: string | null;
  contentType?: string | null;
  /** Sent as is instead of JSON.stringify(body). */
  raw?: string | Buffer | ReadableStream<Uint8Array>;
}

async function call(
  h: Harness,
  method: string,
  path: string,
  body?: unknown,
  options: CallOptions = {},
): Promise<Reply> {
  const headers: Record<string, string> = {};
  const key = options.key === undefined ? KEY : options.key;
  if (key !== null) headers['x-api-key'] = key;
  const contentType = options.contentType === undefined ? 'application/json' : options.contentType;
  if (contentType !== null && (body !== undefined || options.raw !== undefined)) {
    headers['content-type'] = contentType;
  }
  const payload = options.raw ?? (body === undefined ? undefined : JSON.stringify(body));
  const res = await fetch(h.httpUrl + path, {
    method,
    headers,
    body: payload as BodyInit | undefined,
    ...(payload instanceof ReadableStream ? { duplex: 'half' } : {}),
  } as RequestInit);
  const text = await res.text();
  let json: Json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** Asserts an error reply: `{"ok": false, "error": {"code": status, "message"}}`, JSON content type. */
function assertError(reply: Reply, status: number, messagePart?: string | RegExp): void {
  assert.equal(reply.status, status, reply.text);
  assert.match(reply.headers.get('content-type') ?? '', /^application\/json/);
  assert.equal(reply.json.ok, false, reply.text);
  assert.equal(reply.json.error.code, status);
  assert.equal(typeof reply.json.error.message, 'string');
  if (typeof messagePart === 'string') assert.ok(reply.json.error.message.includes(messagePart), reply.text);
  else if (messagePart) assert.match(reply.json.error.message, messagePart);
}

/** The server's open connections (test-only access to internals). */
function connectionsOf(h: Harness): Set<Connection> {
  return (h.server as unknown as { connections: Set<Connection> }).connections;
}

/**
 * Sets `user` on the session of the connection whose native/JSON id or MQTT client id is `id`,
 * as authentication does (Subscriber.user).
 */
function setUser(h: Harness, id: string, user: string): void {
  for (const connection of connectionsOf(h)) {
    const handler = connection.handler as unknown as {
      id?: string;
      clientId?: string;
      user?: string;
      session?: { user?: string };
    };
    if (handler.id === id) {
      handler.user = user;
      return;
    }
    if (handler.clientId === id && handler.session) {
      handler.session.user = user;
      return;
    }
  }
  assert.fail(`no connection ${id}`);
}

const text = (p: NativePublication) => Buffer.from(p.payload).toString('utf8');

async function nativeSubscriber(client: PulseClient, channel: string): Promise<Inbox<NativePublication>> {
  const inbox = new Inbox<NativePublication>();
  await client.subscribe(channel, inbox.push);
  return inbox;
}

let h: MqttHarness;
before(async () => {
  h = await startMqtt({ auth: { api_keys: [KEY, OTHER_KEY] }, history: HISTORY });
});
after(() => h.stop());

describe('HTTP API: publish', () => {
  test('reaches native (WS, TCP), JSON and MQTT subscribers with the same bytes; delivered counts them', async () => {
    const ws = await wsClient(h);
    const tcp = await tcpClient(h);
    const json = await JsonWs.open(h);
    const mq = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    try {
      const wsInbox = await nativeSubscriber(ws, 'pub/x');
      const tcpInbox = await nativeSubscriber(tcp, 'pub/+');
      await json.ok('subscribe', { channel: 'pub/x' });
      await mq.subscribeAsync('pub/#');
      const data = { text: 'héllo ✓', n: 1.5, list: [1, null, true], nested: { a: 'b' } };
      const reply = await call(h, 'POST', '/api/publish', { channel: 'pub/x', data, event: 'greeting' });
      assert.equal(reply.status, 200, reply.text);
      assert.deepEqual(reply.json, { ok: true, delivered: 4 });
      const bytes = JSON.stringify(data);
      const [w] = await wsInbox.waitFor(1);
      assert.ok(w !== undefined);
      const [t] = await tcpInbox.waitFor(1);
      assert.ok(t !== undefined);
      assert.equal(text(w), bytes);
      assert.equal(text(t), bytes);
      assert.equal(w.event, 'greeting');
      const [m] = await mq.inbox.waitFor(1);
      assert.ok(m !== undefined);
      assert.equal(m.topic, 'pub/x');
      assert.deepEqual(m.payload, Buffer.from(bytes, 'utf8'));
      const [j] = await json.pushes.waitFor(1);
      assert.equal(j.params.channel, 'pub/x');
      assert.deepEqual(j.params.data, data);
      assert.equal(j.params.event, 'greeting');
    } finally {
      ws.close();
      tcp.close();
      json.close();
      await endAll(mq);
    }
  });

  test('scalars and null are JSON text too; nobody subscribed: delivered 0', async () => {
    const mq = await mqttClient(h.tcpUrl);
    try {
      await mq.subscribeAsync('scalar');
      for (const data of ['a "quoted" string', 42, null, false]) {
        const reply = await call(h, 'POST', '/api/publish', { channel: 'scalar', data });
        assert.deepEqual(reply.json, { ok: true, delivered: 1 });
      }
      const got = await mq.inbox.waitFor(4);
      assert.deepEqual(
        got.map((m) => m.payload.toString('utf8')),
        ['"a \\"quoted\\" string"', '42', 'null', 'false'],
      );
    } finally {
      await endAll(mq);
    }
    const reply = await call(h, 'POST', '/api/publish', { channel: 'nobody:here', data: 1 });
    assert.deepEqual(reply.json, { ok: true, delivered: 0 });
  });

  test('channel rules as native publish: 400 invalid or wildcard, 403 reserved', async () => {
    assertError(await call(h, 'POST', '/api/publish', { channel: '', data: 1 }), 400, 'channel');
    assertError(await call(h, 'POST', '/api/publish', { channel: 'a/+/b', data: 1 }), 400, 'wildcard');
    assertError(await call(h, 'POST', '/api/publish', { channel: 'a/#', data: 1 }), 400, 'wildcard');
    assertError(await call(h, 'POST', '/api/publish', { channel: 'tab\there', data: 1 }), 400, 'printable');
    assertError(await call(h, 'POST', '/api/publish', { channel: 'x'.repeat(257), data: 1 }), 400);
    assertError(await call(h, 'POST', '/api/publish', { channel: '$SYS/x', data: 1 }), 403, 'reserved');
  });

  test('schema errors name the field', async () => {
    assertError(await call(h, 'POST', '/api/publish', { data: 1 }), 400, '"channel" is required');
    assertError(
      await call(h, 'POST', '/api/publish', { channel: 7, data: 1 }),
      400,
      '"channel" must be a string',
    );
    assertError(await call(h, 'POST', '/api/publish', { channel: 'a' }), 400, '"data" is required');
    assertError(await call(h, 'POST', '/api/publish', { channel: 'a', data: 1, event: 5 }), 400, '"event"');
    assert.equal((await call(h, 'POST', '/api/publish', { channel: 'a', data: 1, event: null })).status, 200);
    const longEvent = { channel: 'a', data: 1, event: 'e'.repeat(257) };
    assertError(await call(h, 'POST', '/api/publish', longEvent), 400, '"event" must be at most 256');
    for (const body of [[], 'text', 12, null]) {
      assertError(await call(h, 'POST', '/api/publish', body), 400, 'request body must be a JSON object');
    }
  });

  test('data over limits.max_message_size as JSON text: 413', async () => {
    const fits = 'x'.repeat(MAX_MESSAGE - 2); // the quotes make it exactly the limit
    assert.equal((await call(h, 'POST', '/api/publish', { channel: 'big', data: fits })).status, 200);
    const over = 'x'.repeat(MAX_MESSAGE - 1);
    assertError(
      await call(h, 'POST', '/api/publish', { channel: 'big', data: over }),
      413,
      'max_message_size',
    );
  });
});

describe('HTTP API: broadcast', () => {
  test('publishes to each channel; per-channel results and errors; delivered is the total', async () => {
    const a = await wsClient(h);
    const b = await tcpClient(h);
    try {
      const inA = await nativeSubscriber(a, 'bc:a');
      const inB = await nativeSubscriber(b, 'bc:b');
      await nativeSubscriber(a, 'bc:b');
      const reply = await call(h, 'POST', '/api/broadcast', {
        channels: ['bc:a', 'bc:b', 'bc/+/bad', 'bc:none', '$SYS/no'],
        data: { v: 1 },
        event: 'tick',
      });
      assert.equal(reply.status, 200, reply.text);
      assert.equal(reply.json.ok, true);
      assert.equal(reply.json.delivered, 3);
      assert.deepEqual(reply.json.results[0], { channel: 'bc:a', delivered: 1 });
      assert.deepEqual(reply.json.results[1], { channel: 'bc:b', delivered: 2 });
      assert.equal(reply.json.results[2].channel, 'bc/+/bad');
      assert.equal(reply.json.results[2].error.code, 400);
      assert.deepEqual(reply.json.results[3], { channel: 'bc:none', delivered: 0 });
      assert.equal(reply.json.results[4].error.code, 403);
      assert.equal(text(at(await inA.waitFor(1), 0)), '{"v":1}');
      assert.equal(at(await inB.waitFor(1), 0).event, 'tick');
    } finally {
      a.close();
      b.close();
    }
  });

  test('1000 channels at most; at least one; each a string', async () => {
    const channels = Array.from({ length: 1000 }, (_, i) => `many:${i}`);
    const ok = await call(h, 'POST', '/api/broadcast', { channels, data: 1 });
    assert.equal(ok.status, 200);
    assert.equal(ok.json.results.length, 1000);
    const tooMany = { channels: [...channels, 'one-more'], data: 1 };
    assertError(await call(h, 'POST', '/api/broadcast', tooMany), 400, 'at most 1000');
    assertError(await call(h, 'POST', '/api/broadcast', { channels: [], data: 1 }), 400, 'at least one');
    assertError(
      await call(h, 'POST', '/api/broadcast', { channels: ['a', 2], data: 1 }),
      400,
      '"channels[1]"',
    );
    assertError(await call(h, 'POST', '/api/broadcast', { channels: 'a', data: 1 }), 400, '"channels"');
    assertError(await call(h, 'POST', '/api/broadcast', { channels: ['a'] }), 400, '"data" is required');
  });
});

describe('HTTP API: channels, presence, history', () => {
  test('GET /api/channels lists channels with subscribers, wildcard filters apart; ?prefix=', async () => {
    const a = await wsClient(h);
    const b = await tcpClient(h);
    const mq = await mqttClient(h.tcpUrl);
    try {
      await nativeSubscriber(a, 'list:one');
      await nativeSubscriber(b, 'list:one');
      await nativeSubscriber(a, 'list:two');
      await nativeSubscriber(b, 'list/+/x');
      await mq.subscribeAsync('list:two');
      const all = await call(h, 'GET', '/api/channels');
      assert.equal(all.status, 200, all.text);
      assert.ok(all.json.channels.some((c: Json) => c.name === 'list:one'));
      const listed = await call(h, 'GET', '/api/channels?prefix=list');
      assert.deepEqual(listed.json, {
        ok: true,
        channels: [
          { name: 'list:one', subscribers: 2 },
          { name: 'list:two', subscribers: 2 },
        ],
        wildcards: [{ filter: 'list/+/x', subscribers: 1 }],
      });
      const colon = await call(h, 'GET', `/api/channels?prefix=${encodeURIComponent('list:t')}`);
      assert.deepEqual(colon.json.channels, [{ name: 'list:two', subscribers: 2 }]);
      assert.deepEqual(colon.json.wildcards, []);
    } finally {
      a.close();
      b.close();
      await endAll(mq);
    }
    // Gone with their subscribers.
    for (let tries = 0; ; tries++) {
      const left = await call(h, 'GET', '/api/channels?prefix=list');
      if (left.json.channels.length === 0 && left.json.wildcards.length === 0) break;
      assert.ok(tries < 100, `still listed: ${left.text}`);
      await sleep(20);
    }
  });

  test('GET /api/presence/:channel: members by connection id (URL-decoded channel); empty when nobody', async () => {
    const a = await wsClient(h);
    const b = await tcpClient(h);
    try {
      await a.presence.join('room/lobby 1', { name: 'ann' });
      await b.presence.join('room/lobby 1', { name: 'bob', n: 2 });
      const expected = { [a.connectionId]: { name: 'ann' }, [b.connectionId]: { name: 'bob', n: 2 } };
      const encoded = await call(h, 'GET', `/api/presence/${encodeURIComponent('room/lobby 1')}`);
      assert.equal(encoded.status, 200, encoded.text);
      assert.deepEqual(encoded.json, { ok: true, channel: 'room/lobby 1', presence: expected });
      const slashes = await call(h, 'GET', '/api/presence/room/lobby%201');
      assert.deepEqual(slashes.json.presence, expected);
      const empty = await call(h, 'GET', '/api/presence/room%2Fempty');
      assert.deepEqual(empty.json, { ok: true, channel: 'room/empty', presence: {} });
    } finally {
      a.close();
      b.close();
    }
    assertError(await call(h, 'GET', '/api/presence/a%2F%2B%2Fb'), 400, 'wildcard');
    assertError(await call(h, 'GET', '/api/presence/'), 400, 'channel');
    assertError(await call(h, 'GET', '/api/presence/%E0%A4%A'), 400, 'percent-encoded');
    assertError(await call(h, 'GET', '/api/presence/%24SYS%2Fx'), 403);
  });

  test('GET /api/history/:channel: newest page, paging forward with since_offset/epoch, data as JSON', async () => {
    for (let i = 1; i <= 25; i++) {
      const event = i % 2 === 0 ? 'even' : undefined;
      const reply = await call(h, 'POST', '/api/publish', { channel: 'hist:a', data: { i }, event });
      assert.equal(reply.status, 200);
    }
    const newest = await call(h, 'GET', '/api/history/hist%3Aa?limit=10');
    assert.equal(newest.status, 200, newest.text);
    assert.equal(newest.json.offset, 25);
    assert.equal(typeof newest.json.epoch, 'string');
    assert.deepEqual(
      newest.json.publications.map((p: Json) => p.offset),
      Array.from({ length: 10 }, (_, i) => 16 + i),
    );
    assert.deepEqual(newest.json.publications[0], { offset: 16, data: { i: 16 }, event: 'even' });
    assert.deepEqual(newest.json.publications[1], { offset: 17, data: { i: 17 } });
    const epoch = newest.json.epoch;
    const seen: number[] = [];
    let offset = 0;
    for (;;) {
      const page = await call(h, 'GET', `/api/history/hist:a?since_offset=${offset}&epoch=${epoch}&limit=7`);
      assert.equal(page.status, 200, page.text);
      if (page.json.publications.length === 0) break;
      for (const p of page.json.publications) seen.push(p.data.i);
      offset = page.json.publications.at(-1).offset;
    }
    assert.deepEqual(
      seen,
      Array.from({ length: 25 }, (_, i) => i + 1),
    );
    // Default limit 100: all 25; another epoch: from the oldest kept.
    assert.equal((await call(h, 'GET', '/api/history/hist:a')).json.publications.length, 25);
    const other = await call(h, 'GET', '/api/history/hist:a?since_offset=3&epoch=other&limit=2');
    assert.deepEqual(
      other.json.publications.map((p: Json) => p.offset),
      [1, 2],
    );
    assert.equal(other.json.epoch, epoch);
  });

  test('history errors: 404 without history, 400 on bad parameters or channel', async () => {
    assertError(await call(h, 'GET', '/api/history/plain'), 404, 'keeps no history');
    assertError(await call(h, 'GET', '/api/history/%24SYS%2Fbroker'), 404);
    assertError(await call(h, 'GET', '/api/history/hist:a%2F%23'), 400);
    assertError(await call(h, 'GET', '/api/history/hist:a?since_offset=1'), 400, 'go together');
    assertError(await call(h, 'GET', '/api/history/hist:a?epoch=x'), 400, 'go together');
    assertError(await call(h, 'GET', '/api/history/hist:a?limit=0'), 400, '"limit"');
    assertError(await call(h, 'GET', '/api/history/hist:a?limit=1001'), 400, '"limit"');
    assertError(await call(h, 'GET', '/api/history/hist:a?limit=abc'), 400, '"limit"');
    assertError(await call(h, 'GET', '/api/history/hist:a?since_offset=-1&epoch=x'), 400, '"since_offset"');
  });
});

describe('HTTP API: disconnect', () => {
  test('by connection id: native WS (error 1010), native TCP, JSON (disconnect push); others stay', async () => {
    const ws = await wsClient(h);
    const tcp = await tcpClient(h);
    const json = await JsonWs.open(h);
    const bystander = await wsClient(h);
    try {
      const errors: number[] = [];
      ws.onError((e) => errors.push(e.code));
      const r1 = await call(h, 'POST', '/api/disconnect', { connection_id: ws.connectionId });
      assert.deepEqual(r1.json, { ok: true, disconnected: 1 });
      const closed = await within(ws.closed, 5000, 'native ws close');
      assert.equal(closed.code, 1000);
      assert.equal(closed.reason, 'disconnected by the server API');
      assert.deepEqual(errors, [1010]);

      const r2 = await call(h, 'POST', '/api/disconnect', { connection_id: tcp.connectionId });
      assert.deepEqual(r2.json, { ok: true, disconnected: 1 });
      await within(tcp.closed, 5000, 'native tcp close');

      const connected = await json.ok('connect', {});
      const r3 = await call(h, 'POST', '/api/disconnect', { connection_id: connected.client });
      assert.deepEqual(r3.json, { ok: true, disconnected: 1 });
      await within(json.closed, 5000, 'json close');
      const push = json.pushes.items.find((p) => p.method === 'disconnect');
      assert.deepEqual(push, { method: 'disconnect', params: { reason: 'disconnected by the server API' } });

      const none = await call(h, 'POST', '/api/disconnect', { connection_id: 'no-such-connection' });
      assert.deepEqual(none.json, { ok: true, disconnected: 0 });
      // The bystander is untouched.
      const inbox = await nativeSubscriber(bystander, 'still:here');
      await call(h, 'POST', '/api/publish', { channel: 'still:here', data: 'yes' });
      assert.equal(text(at(await inbox.waitFor(1), 0)), '"yes"');
    } finally {
      ws.close();
      tcp.close();
      json.close();
      bystander.close();
    }
  });

  test('by MQTT client id: MQTT 5 gets DISCONNECT 0x98 (Administrative action); 3.1.1 is closed', async () => {
    const v5 = await mqttClient(h.tcpUrl, { protocolVersion: 5, clientId: 'kick-me-5' });
    const v4 = await mqttClient(h.tcpUrl, { protocolVersion: 4, clientId: 'kick-me-4' });
    try {
      const r5 = await call(h, 'POST', '/api/disconnect', { client_id: 'kick-me-5' });
      assert.deepEqual(r5.json, { ok: true, disconnected: 1 });
      const packet = await within(v5.gone, 5000, 'v5 close');
      assert.equal(packet?.reasonCode, 0x98);
      assert.equal(packet?.properties?.reasonString, 'disconnected by the server API');
      const r4 = await call(h, 'POST', '/api/disconnect', { client_id: 'kick-me-4' });
      assert.deepEqual(r4.json, { ok: true, disconnected: 1 });
      assert.equal(await within(v4.gone, 5000, 'v4 close'), undefined);
    } finally {
      await endAll(v5, v4);
    }
  });

  test('by user: every connection of that user, of every protocol', async () => {
    // Authentication sets Subscriber.user; here it is set in-process on each session.
    const ws = await wsClient(h);
    const tcp = await tcpClient(h);
    const json = await JsonWs.open(h);
    const mq = await mqttClient(h.tcpUrl, { protocolVersion: 5, clientId: 'alice-mqtt' });
    const bob = await wsClient(h);
    try {
      const jsonId = (await json.ok('connect', {})).client;
      setUser(h, ws.connectionId, 'alice');
      setUser(h, tcp.connectionId, 'alice');
      setUser(h, jsonId, 'alice');
      setUser(h, 'alice-mqtt', 'alice');
      setUser(h, bob.connectionId, 'bob');
      const reply = await call(h, 'POST', '/api/disconnect', { user: 'alice' });
      assert.deepEqual(reply.json, { ok: true, disconnected: 4 });
      await within(
        Promise.all([ws.closed, tcp.closed, json.closed, mq.gone]),
        5000,
        'every connection of alice to close',
      );
      assert.equal((await mq.gone)?.reasonCode, 0x98);
      const again = await call(h, 'POST', '/api/disconnect', { user: 'alice' });
      assert.deepEqual(again.json, { ok: true, disconnected: 0 });
      // Bob is still connected.
      await bob.subscribe('bob:alive', () => {});
    } finally {
      ws.close();
      tcp.close();
      json.close();
      bob.close();
      await endAll(mq);
    }
  });

  test('by user, as a JWT authenticated it (native and JSON connect)', async () => {
    const secret = 'jwt-secret-for-http-api-tests-0123456789';
    const authed = await startServer({ auth: { enabled: true, jwt_hmac_secret: secret, api_keys: [KEY] } });
    const sign = (sub: string) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(sub)
        .setExpirationTime('1h')
        .sign(new TextEncoder().encode(secret));
    const native = await PulseClient.connect(authed.wsUrl, {
      WebSocket: WebSocket as never,
      token: await sign('carol'),
    });
    const json = await JsonWs.open(authed);
    const dave = await PulseClient.connect(authed.wsUrl, {
      WebSocket: WebSocket as never,
      token: await sign('dave'),
    });
    try {
      await json.ok('connect', { token: await sign('carol') });
      const reply = await call(authed, 'POST', '/api/disconnect', { user: 'carol' });
      assert.deepEqual(reply.json, { ok: true, disconnected: 2 });
      assert.equal((await within(native.closed, 5000, 'native close')).code, 1000);
      await within(json.closed, 5000, 'json close');
      await dave.subscribe('dave:alive', () => {});
    } finally {
      native.close();
      json.close();
      dave.close();
      await authed.stop();
    }
  });

  test('exactly one of connection_id, client_id, user', async () => {
    assertError(await call(h, 'POST', '/api/disconnect', {}), 400, 'exactly one');
    assertError(
      await call(h, 'POST', '/api/disconnect', { connection_id: 'a', user: 'b' }),
      400,
      'exactly one',
    );
    assertError(await call(h, 'POST', '/api/disconnect', { user: '' }), 400, '"user" must not be empty');
    assertError(await call(h, 'POST', '/api/disconnect', { connection_id: 5 }), 400, '"connection_id"');
  });
});

describe('HTTP API: keys, bodies, routes', () => {
  test('401 without a key, with a wrong key; either configured key works', async () => {
    assertError(await call(h, 'GET', '/api/channels', undefined, { key: null }), 401, 'missing x-api-key');
    assertError(await call(h, 'GET', '/api/channels', undefined, { key: '' }), 401, 'missing');
    assertError(await call(h, 'GET', '/api/channels', undefined, { key: 'wrong' }), 401, 'invalid API key');
    const sameLength = `${KEY.slice(0, -1)}X`;
    assertError(
      await call(h, 'GET', '/api/channels', undefined, { key: sameLength }),
      401,
      'invalid API key',
    );
    const body = { channel: 'k', data: 1 };
    assertError(await call(h, 'POST', '/api/publish', body, { key: null }), 401);
    // Unknown routes too: nothing is told without a key.
    assertError(await call(h, 'GET', '/api/nothing', undefined, { key: null }), 401);
    assert.equal((await call(h, 'GET', '/api/channels', undefined, { key: OTHER_KEY })).status, 200);
    assert.equal((await call(h, 'POST', '/api/publish', body, { key: OTHER_KEY })).status, 200);
  });

  test('no keys configured: every /api/* request is 401, saying so', async () => {
    const closed = await startServer({});
    try {
      for (const [method, path] of <[string, string][]>[
        ['POST', '/api/publish'],
        ['GET', '/api/channels'],
        ['GET', '/api/presence/x'],
        ['GET', '/api/history/x'],
        ['POST', '/api/disconnect'],
        ['GET', '/api/nothing'],
        ['GET', '/api'],
      ]) {
        const reply = await call(
          closed,
          method,
          path,
          method === 'POST' ? { channel: 'x', data: 1 } : undefined,
        );
        assertError(reply, 401, 'no API keys are configured');
      }
      const metrics = await scrape(closed);
      assert.match(metrics, /pulse_api_requests_total\{route="\/api\/publish",status="401"\} 1/);
      assert.match(metrics, /pulse_api_requests_total\{route="unknown",status="401"\} 2/);
    } finally {
      await closed.stop();
    }
  });

  test('415 without application/json; charset must be UTF-8', async () => {
    const body = { channel: 'ct', data: 1 };
    assertError(await call(h, 'POST', '/api/publish', body, { contentType: 'text/plain' }), 415);
    assertError(await call(h, 'POST', '/api/publish', body, { contentType: null }), 415, 'application/json');
    const latin = 'application/json; charset=iso-8859-1';
    assertError(await call(h, 'POST', '/api/publish', body, { contentType: latin }), 415, 'charset');
    const utf8 = 'Application/JSON; charset="UTF-8"';
    assert.equal((await call(h, 'POST', '/api/publish', body, { contentType: utf8 })).status, 200);
  });

  test('400 on bodies that are not JSON, not UTF-8, empty, or nest too deep', async () => {
    assertError(
      await call(h, 'POST', '/api/publish', undefined, { raw: '{"channel": "x", data' }),
      400,
      'not valid JSON',
    );
    assertError(await call(h, 'POST', '/api/publish', undefined, { raw: '' }), 400, 'empty');
    const latin1 = Buffer.from('{"channel":"x","data":"\xe9"}', 'latin1');
    assertError(await call(h, 'POST', '/api/publish', undefined, { raw: latin1 }), 400, 'UTF-8');
    const deep = `{"channel":"x","data":${'['.repeat(100)}${']'.repeat(100)}}`;
    assertError(await call(h, 'POST', '/api/publish', undefined, { raw: deep }), 400, 'deeper');
  });

  test('413 past the body limit (declared or streamed), without reading the rest', async () => {
    const big = Buffer.alloc(MAX_BODY + 1, 0x20);
    assertError(await call(h, 'POST', '/api/publish', undefined, { raw: big }), 413, String(MAX_BODY));
    // Chunked, no content-length: the server stops at the limit, long before the end.
    let sent = 0;
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 64 * 1024 * 1024) return controller.close();
        sent += chunk.length;
        controller.enqueue(chunk);
      },
    });
    assertError(await call(h, 'POST', '/api/broadcast', undefined, { raw: stream }), 413);
    assert.ok(sent < 32 * 1024 * 1024, `the client sent ${sent} bytes`);
    // A body just under the limit is read (and refused for what it says, not its size).
    const padded = `{"channel":"pad","data":1,"pad":"${'p'.repeat(MAX_BODY - 100)}"}`;
    assert.equal((await call(h, 'POST', '/api/publish', undefined, { raw: padded })).status, 200);
  });

  test('404 for unknown routes, 405 with allow for wrong methods, all JSON', async () => {
    for (const path of [
      '/api',
      '/api/',
      '/api/nope',
      '/api/publish/extra',
      '/api/channels/x',
      '/api/PUBLISH',
    ]) {
      assertError(await call(h, 'GET', path), 404, 'no such API endpoint');
    }
    const wrong: [string, string, string][] = [
      ['GET', '/api/publish', 'POST'],
      ['PUT', '/api/broadcast', 'POST'],
      ['POST', '/api/channels', 'GET'],
      ['DELETE', '/api/presence/x', 'GET'],
      ['POST', '/api/history/x', 'GET'],
      ['GET', '/api/disconnect', 'POST'],
    ];
    for (const [method, path, allow] of wrong) {
      const reply = await call(h, method, path);
      assertError(reply, 405);
      assert.equal(reply.headers.get('allow'), allow);
    }
    // Outside /api/ nothing changed.
    assert.equal((await fetch(`${h.httpUrl}/health`)).status, 200);
    assert.equal((await fetch(`${h.httpUrl}/apix`)).status, 404);
  });

  test('requests are counted by route and status', async () => {
    await call(h, 'GET', '/api/channels');
    const metrics = await scrape(h);
    assert.match(metrics, /pulse_api_requests_total\{route="\/api\/channels",status="200"\} \d+/);
    assert.match(metrics, /pulse_api_requests_total\{route="\/api\/publish",status="400"\} \d+/);
    assert.match(metrics, /pulse_api_requests_total\{route="unknown",status="404"\} \d+/);
  });
});

interface RawReply {
  status: number;
  contentType: string;
  body: string;
}

function rawRequest(
  agent: Agent,
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
  body: Buffer | undefined,
): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    // An explicit length: Node's client frames an OPTIONS or DELETE body with neither length nor chunks.
    if (body) headers['content-length'] = String(body.length);
    const req = request({ host: '127.0.0.1', port, method, path, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          contentType: String(res.headers['content-type'] ?? ''),
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('HTTP API: fuzz', () => {
  test('thousands of random and mutated requests: every one a JSON answer under 500; a bystander keeps its messages', async () => {
    const seed = Number(process.env.PULSE_FUZZ_SEED ?? 20_240_611);
    const random = seededRandom(seed);
    const pick = <T>(list: readonly T[]): T => at(list, Math.floor(random() * list.length));
    const int = (n: number) => Math.floor(random() * n);

    const bystander = await wsClient(h);
    const mqttBystander: TestClient = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    const inbox = await nativeSubscriber(bystander, 'bystander:only');
    await mqttBystander.subscribeAsync('bystander:only');
    const port = Number(new URL(h.httpUrl).port);
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });

    const paths = [
      '/api/publish',
      '/api/broadcast',
      '/api/channels',
      '/api/channels?prefix=a',
      '/api/presence/room',
      '/api/presence/a%2Fb',
      '/api/history/hist:a',
      '/api/history/hist:a?since_offset=1&epoch=x&limit=5',
      '/api/disconnect',
      '/api',
      '/api/',
    ];
    const bodies = [
      '{"channel":"fuzz:a","data":{"x":[1,2,3]},"event":"e"}',
      '{"channels":["fuzz:a","fuzz:b"],"data":"text"}',
      '{"connection_id":"nobody"}',
      '{"user":"nobody"}',
      '{"client_id":"nobody"}',
      '[]',
      '{}',
    ];
    const tokens = [
      '{',
      '}',
      '[',
      ']',
      '"',
      ':',
      ',',
      '\\',
      '\\u0000',
      '\u00ff',
      '\ud800',
      'null',
      '-1e999',
      '%',
      '+',
      '#',
      '$SYS',
      '\n',
    ];
    /** Percent-encodes what may not stand in a request line (a lone surrogate as U+FFFD). */
    const safePath = (s: string) =>
      [...s]
        .map((c) =>
          /[A-Za-z0-9/:%?&=._~+$-]/.test(c)
            ? c
            : [...Buffer.from(c, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join(''),
        )
        .join('');

    function mutate(text: string): Buffer {
      let bytes = Buffer.from(text, 'utf8');
      const rounds = 1 + int(4);
      for (let r = 0; r < rounds; r++) {
        const at = int(bytes.length + 1);
        switch (int(6)) {
          case 0: // flip a byte
            if (bytes.length > 0) bytes[Math.min(at, bytes.length - 1)] = int(256);
            break;
          case 1: // cut
            bytes = bytes.subarray(0, at);
            break;
          case 2: // insert a token
            bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(pick(tokens)), bytes.subarray(at)]);
            break;
          case 3: // duplicate a slice
            bytes = Buffer.concat([bytes, bytes.subarray(at)]);
            break;
          case 4: // random bytes
            bytes = Buffer.concat([
              bytes.subarray(0, at),
              Buffer.from(Array.from({ length: int(16) }, () => int(256))),
            ]);
            break;
          default: // leave it
        }
      }
      return bytes;
    }

    let answered = 0;
    const statuses = new Map<number, number>();
    const one = async (): Promise<void> => {
      const method = pick(['GET', 'POST', 'POST', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD']);
      let path = pick(paths);
      if (random() < 0.3) {
        const chars = `${pick(tokens)}${String.fromCharCode(32 + int(95))}${String.fromCharCode(int(0x3000))}`;
        const at = int(path.length + 1);
        path = path.slice(0, at) + safePath(chars) + path.slice(at);
      }
      if (!path.startsWith('/api')) path = `/api/${path}`;
      const headers: Record<string, string> = {};
      const keyRoll = random();
      if (keyRoll < 0.85) headers['x-api-key'] = KEY;
      else if (keyRoll < 0.95) headers['x-api-key'] = safePath(KEY.slice(0, int(KEY.length)));
      const typeRoll = random();
      headers['content-type'] =
        typeRoll < 0.8
          ? 'application/json'
          : pick(['text/plain', 'application/json; charset=latin1', '', 'json']);
      const body = method === 'GET' || method === 'HEAD' ? undefined : mutate(pick(bodies));
      let reply: RawReply;
      try {
        reply = await rawRequest(agent, port, method, path, headers, body);
      } catch (err) {
        // Node's client refuses some request lines itself: nothing reached the server.
        if ((err as NodeJS.ErrnoException).code === 'ERR_UNESCAPED_CHARACTERS') return;
        throw err;
      }
      answered++;
      statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
      const what = `${method} ${path} ${body?.toString('utf8')} → ${reply.status} ${reply.body}`;
      assert.ok(reply.status < 500, what);
      if (!path.startsWith('/api/') && path !== '/api') return;
      if (method === 'HEAD') return;
      assert.match(reply.contentType, /^application\/json/, what);
      const json = JSON.parse(reply.body);
      if (reply.status >= 400) {
        assert.equal(json.ok, false, what);
        assert.equal(json.error.code, reply.status, what);
      } else {
        assert.equal(json.ok, true, what);
      }
    };

    const TOTAL = 3000;
    let next = 0;
    const worker = async () => {
      while (next < TOTAL) {
        next++;
        await one();
      }
    };
    try {
      await Promise.all(Array.from({ length: 8 }, worker));
      // Garbage on raw sockets: the HTTP layer answers 400 or closes; nothing else happens.
      for (let i = 0; i < 50; i++) {
        const socket = connect(port, '127.0.0.1');
        await once(socket, 'connect');
        const junk = Buffer.from(Array.from({ length: 1 + int(200) }, () => int(256)));
        socket.end(Buffer.concat([Buffer.from(`POST /api/publish HTTP/1.1\r\nx-api-key: ${KEY}\r\n`), junk]));
        socket.resume();
        await once(socket, 'close');
      }
      assert.ok(answered > TOTAL * 0.9, `answered ${answered}`);
      assert.ok((statuses.get(400) ?? 0) > 100, JSON.stringify([...statuses]));
      // The bystander still gets exactly what is published to it.
      const reply = await call(h, 'POST', '/api/publish', {
        channel: 'bystander:only',
        data: { after: 'fuzz' },
      });
      assert.deepEqual(reply.json, { ok: true, delivered: 2 });
      const got = await inbox.waitFor(1);
      assert.equal(got.length, 1);
      assert.equal(text(at(got, 0)), '{"after":"fuzz"}');
      assert.equal(at(await mqttBystander.inbox.waitFor(1), 0).payload.toString(), '{"after":"fuzz"}');
    } finally {
      agent.destroy();
      bystander.close();
      await endAll(mqttBystander);
    }
  });
});
