import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  type DisconnectInfo,
  type PresenceEvent,
  type Publication,
  PulseClient,
  type PulseError,
  type SubscribedContext,
} from '@pulse/client';
import WebSocket, { WebSocketServer } from 'ws';
import { SECRET, now, sign } from './auth-helpers.js';
import { type Harness, Inbox, sleep, startServer, wsClient } from './helpers.js';
import { JsonWs } from './json-ws.js';
import { TestProxy, next, pulse, until } from './sdk-helpers.js';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const fast = { minReconnectDelayMs: 50, maxReconnectDelayMs: 150 };
const jsonClient = (url: string, token?: string) =>
  PulseClient.connect(url, { WebSocket: WebSocket as never, protocol: 'json', token });

/** Payloads that only arrive exactly when the SDK maps them with care (docs/PROTOCOL.md, "Payloads across protocols"). */
const PAYLOADS: Uint8Array[] = [
  Buffer.from([0, 1, 2, 254, 255]),
  Buffer.from('plain text, not JSON'),
  Buffer.alloc(0),
  Buffer.from([0xc3, 0x28]), // not UTF-8
  Buffer.from('{"a":[1,"é"],"b":null}'), // compact JSON: travels as JSON data
  Buffer.from('{"a": 1,  "b" :[ 2 ]}'), // JSON, not compact
  Buffer.from('{"big": 123456789012345678901234567890, "x": 1.50}'),
  Buffer.from(' "spaced" '),
  Buffer.from('-0'),
  Buffer.from('\uFEFF{}'), // a BOM in front
  Buffer.alloc(40_000, 0xab),
];

let h: Harness;
let auth: Harness;
before(async () => {
  h = await startServer({
    history: [{ pattern: 'hist:*', size: 100 }] as never,
    heartbeat: { interval_ms: 200, timeout_ms: 600 },
  });
  auth = await startServer({ auth: { enabled: true, jwt_hmac_secret: SECRET } });
});
const closers: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const close of closers.reverse()) await close();
  await h.stop();
  await auth.stop();
});

describe('the SDK over the JSON protocol', () => {
  test('connect: the connection id and heartbeat come from the JSON connect result; heartbeats keep it', async () => {
    const client = pulse(h.wsUrl, { protocol: 'json', heartbeatGraceMs: 200 });
    closers.push(() => client.close());
    const connected = next<{ connectionId: string; heartbeatMs: number }>((f) => client.on('connected', f));
    const lost: DisconnectInfo[] = [];
    client.on('disconnected', (d) => lost.push(d));
    client.connect();
    const info = await connected;
    assert.match(info.connectionId, /.+/);
    assert.equal(info.heartbeatMs, 200);
    // Idle through several server heartbeats (JSON ping pushes, answered) and client pings.
    await sleep(1500);
    assert.deepEqual(lost, []);
    assert.equal(client.connectionId, info.connectionId);
    assert.ok((await (await jsonClient(h.wsUrl)).ping()) >= 0);
  });

  test('payloads, both directions with a native client: the exact bytes', async () => {
    const native = await wsClient(h);
    const json = await jsonClient(h.wsUrl);
    closers.push(
      () => native.close(),
      () => json.close(),
    );
    const toNative = new Inbox<Publication>();
    const toJson = new Inbox<Publication>();
    await native.subscribe('bytes:json', toNative.push);
    await json.subscribe('bytes:native', toJson.push);
    for (const p of PAYLOADS) await json.publish('bytes:json', p, { event: 'e' });
    for (const p of PAYLOADS) await native.publish('bytes:native', p);
    await json.publish('bytes:json', 'a string', { ack: false });
    const fromJson = await toNative.waitFor(PAYLOADS.length + 1);
    const fromNative = await toJson.waitFor(PAYLOADS.length);
    assert.deepEqual(
      fromJson.slice(0, -1).map((p) => hex(p.payload)),
      PAYLOADS.map(hex),
    );
    assert.deepEqual(
      fromNative.map((p) => hex(p.payload)),
      PAYLOADS.map(hex),
    );
    assert.equal(Buffer.from(fromJson.at(-1)?.payload ?? []).toString(), 'a string');
    assert.equal(fromJson[0]?.event, 'e');
    assert.equal(fromNative[0]?.channel, 'bytes:native');
  });

  test('a raw JSON subscriber sees canonical JSON published by the SDK as data, other bytes as base64', async () => {
    const raw = await JsonWs.open(h);
    closers.push(async () => raw.close());
    await raw.ok('subscribe', { channel: 'bytes:raw' });
    const json = await jsonClient(h.wsUrl);
    closers.push(() => json.close());
    await json.publish('bytes:raw', '{"n":1}');
    await json.publish('bytes:raw', 'hello');
    const pushes = await raw.pushes.waitFor(2);
    assert.deepEqual(
      pushes.map((p) => p.params),
      [
        { channel: 'bytes:raw', data: { n: 1 } },
        { channel: 'bytes:raw', data: Buffer.from('hello').toString('base64'), encoding: 'base64' },
      ],
    );
  });

  test('wildcard subscriptions and subscription objects over JSON', async () => {
    const client = pulse(h.wsUrl, { protocol: 'json' });
    closers.push(() => client.close());
    const got: string[] = [];
    const s = client.subscribe('wild/+/x', (p) => got.push(`${p.channel}=${Buffer.from(p.payload)}`));
    client.connect();
    await s.ready();
    await client.publish('wild/a/x', 'one');
    await client.publish('wild/a/y', 'not matched');
    await client.publish('wild/b/x', 'two');
    await until(() => got.length === 2, 'two publications');
    assert.deepEqual(got, ['wild/a/x=one', 'wild/b/x=two']);
  });

  test('presence: join/update/leave events and sync, across protocols', async () => {
    const client = pulse(h.wsUrl, { protocol: 'json' });
    closers.push(() => client.close());
    const native = await wsClient(h);
    closers.push(() => native.close());
    const seenByNative = new Inbox<PresenceEvent>();
    native.onPresence(seenByNative.push);
    await native.subscribe('room:1', () => {});
    const seenByJson = new Inbox<PresenceEvent>();
    client.on('presence', seenByJson.push);
    const s = client.subscribe('room:1', () => {});
    client.connect();
    await s.ready();
    await client.presence.join('room:1', { name: 'ann' });
    await client.presence.update('room:1', { name: 'ann', typing: true });
    await native.presence.join('room:1', { name: 'bob', bin: new Uint8Array([1, 2]) });
    const sync = await client.presence.sync('room:1');
    assert.deepEqual(sync, {
      [client.connectionId]: { name: 'ann', typing: true },
      [native.connectionId]: { name: 'bob', bin: 'AQI=' },
    });
    // Native presence data is MessagePack: its binary values reach JSON as base64 (docs/PROTOCOL.md).
    assert.deepEqual((await native.presence.sync('room:1'))[native.connectionId], {
      name: 'bob',
      bin: new Uint8Array([1, 2]),
    });
    await client.presence.leave('room:1');
    await seenByNative.waitFor(4);
    assert.deepEqual(
      seenByNative.items.map((e) => [e.action, e.connectionId === client.connectionId, e.data]),
      [
        ['join', true, { name: 'ann' }],
        ['update', true, { name: 'ann', typing: true }],
        ['join', false, { name: 'bob', bin: new Uint8Array([1, 2]) }],
        ['leave', true, { name: 'ann', typing: true }],
      ],
    );
    const events = await seenByJson.waitFor(4);
    assert.deepEqual(
      events.map((e) => [e.channel, e.action, e.connectionId === native.connectionId]),
      [
        ['room:1', 'join', false],
        ['room:1', 'update', false],
        ['room:1', 'join', true],
        ['room:1', 'leave', false],
      ],
    );
    assert.deepEqual(
      events[2]?.data,
      { name: 'bob', bin: 'AQI=' },
      'binary presence values arrive as base64',
    );
  });

  test('history: pages with exact payloads and positions, as over native', async () => {
    const native = await wsClient(h);
    const json = await jsonClient(h.wsUrl);
    closers.push(
      () => native.close(),
      () => json.close(),
    );
    for (const p of PAYLOADS) await native.publish('hist:a', p, { event: 'ev' });
    const overJson = await json.history('hist:a', { limit: 1000 });
    const overNative = await native.history('hist:a', { limit: 1000 });
    assert.deepEqual(
      overJson.publications.map((p) => hex(p.payload)),
      PAYLOADS.map(hex),
    );
    const shape = (r: typeof overJson) => ({
      ...r,
      publications: r.publications.map((p) => ({ ...p, payload: hex(p.payload) })),
    });
    assert.deepEqual(shape(overJson), shape(overNative));
    const page = await json.history('hist:a', { since: { offset: 2, epoch: overJson.epoch }, limit: 2 });
    assert.deepEqual(
      page.publications.map((p) => p.offset),
      [3, 4],
    );
    const empty = await json.history('hist:empty');
    assert.deepEqual(empty, await native.history('hist:empty'));
    assert.deepEqual([empty.publications, empty.offset], [[], 0]);
  });

  test('a dropped connection: reconnect, resubscribe with recover, the missed ones exactly once', async () => {
    const proxy = await TestProxy.start(Number(new URL(h.wsUrl).port));
    closers.push(() => proxy.close());
    const client = pulse(`ws://127.0.0.1:${proxy.port}/ws`, { ...fast, protocol: 'json' });
    closers.push(() => client.close());
    const publisher = await wsClient(h);
    closers.push(() => publisher.close());
    const got: string[] = [];
    const contexts: SubscribedContext[] = [];
    const s = client.newSubscription('hist:rec');
    s.on('publication', (p) => got.push(Buffer.from(p.payload).toString()));
    s.on('subscribed', (ctx) => contexts.push(ctx));
    s.subscribe();
    client.connect();
    await s.ready();
    await client.presence.join('hist:rec', { who: 'me' });
    for (let i = 0; i < 5; i++) await publisher.publish('hist:rec', `m${i}`);
    await until(() => got.length === 5, 'the first five');
    const firstId = client.connectionId;

    proxy.refusing = true;
    proxy.cut();
    await until(() => client.state !== 'connected', 'the client to notice the cut');
    for (let i = 5; i < 10; i++) await publisher.publish('hist:rec', `m${i}`);
    const resubscribed = next<SubscribedContext>((f) => s.on('subscribed', f));
    proxy.refusing = false;
    const ctx = await resubscribed;
    assert.deepEqual([ctx.wasRecovering, ctx.recovered, ctx.position?.offset], [true, true, 10]);
    for (let i = 10; i < 12; i++) await publisher.publish('hist:rec', `m${i}`);
    await until(() => got.length >= 12, `twelve publications (got ${got.length})`);
    await sleep(50);
    assert.deepEqual(
      got,
      Array.from({ length: 12 }, (_, i) => `m${i}`),
    );
    assert.notEqual(client.connectionId, firstId, 'a new connection');
    assert.deepEqual(
      Object.keys(await publisher.presence.sync('hist:rec')),
      [client.connectionId],
      'presence joined again',
    );
  });

  test('error codes: the same PulseError codes as over native', async () => {
    const native = await wsClient(h);
    const json = await jsonClient(h.wsUrl);
    closers.push(
      () => native.close(),
      () => json.close(),
    );
    const codeOf = (p: Promise<unknown>) =>
      p.then(
        () => 0,
        (e: PulseError) => e.code,
      );
    const codes = async (c: PulseClient) => {
      await c.subscribe('twice', () => {});
      return [
        await codeOf(c.publish('$SYS/x', 'no')),
        await codeOf(c.subscribe('a/#/b', () => {})),
        await codeOf(c.publish('a/+', 'x')),
        await codeOf(c.subscribe('twice', () => {})),
        await codeOf(c.unsubscribe('never')),
        await codeOf(c.presence.leave('nowhere')),
        await codeOf(c.history('no-history')),
        await codeOf(c.publish('big', new Uint8Array(h.server.config.limits.max_message_size + 1))),
        await codeOf(c.presence.join('p', { pad: 'x'.repeat(5000) })),
      ];
    };
    const expected = [1004, 1002, 1002, 1009, 1008, 1008, 1005, 1007, 1007];
    assert.deepEqual(await codes(native), expected);
    assert.deepEqual(await codes(json), expected);
    assert.equal((await json.ping()) >= 0, true, 'the connection is still usable');
  });
});

describe('the SDK over the JSON protocol with JWT authentication', () => {
  test('a good token connects; rights outside the token are 1004', async () => {
    const client = pulse(auth.wsUrl, {
      protocol: 'json',
      token: await sign({ sub: 'ann', exp: now() + 3600, channels: ['ok/#'] }),
    });
    closers.push(() => client.close());
    const got: string[] = [];
    const s = client.subscribe('ok/1', (p) => got.push(Buffer.from(p.payload).toString()));
    client.connect();
    await s.ready();
    await client.publish('ok/1', 'hi');
    await until(() => got.length === 1, 'own publication');
    await assert.rejects(client.publish('other', 'x'), (e: PulseError) => e.code === 1004);
  });

  test('a bad token is terminal: state closed, reason unauthorized, error 1003, no retry', async () => {
    let calls = 0;
    const client = pulse(auth.wsUrl, {
      ...fast,
      protocol: 'json',
      getToken: () => {
        calls++;
        return sign({ sub: 'ann', exp: now() + 3600 }, 'another-secret-of-at-least-32-characters');
      },
    });
    closers.push(() => client.close());
    const closed = next<DisconnectInfo>((f) => client.on('closed', f));
    client.connect();
    const info = await closed;
    assert.equal(info.reason, 'unauthorized');
    assert.equal(info.error?.code, 1003);
    await sleep(300);
    assert.equal(calls, 1);
    assert.equal(client.state, 'closed');
  });

  test('without a token against auth: refused at once, 1003 terminal', async () => {
    const client = pulse(auth.wsUrl, { ...fast, protocol: 'json' });
    closers.push(() => client.close());
    const closed = next<DisconnectInfo>((f) => client.on('closed', f));
    client.connect();
    const info = await closed;
    assert.deepEqual([info.reason, info.error?.code], ['unauthorized', 1003]);
  });

  test('a token refused as expired is refreshed once; the fresh one connects', async () => {
    const tokens = [sign({ sub: 'bob', exp: now() - 10 }), sign({ sub: 'bob', exp: now() + 3600 })];
    let calls = 0;
    const client = pulse(auth.wsUrl, {
      ...fast,
      protocol: 'json',
      getToken: () => tokens[calls++] ?? Promise.reject(new Error('none')),
    });
    closers.push(() => client.close());
    const lost = next<DisconnectInfo & { reconnectInMs?: number }>((f) => client.on('disconnected', f));
    const connected = next((f) => client.on('connected', f));
    client.connect();
    const info = await lost;
    assert.deepEqual(
      [info.reason, info.error?.code, info.message, info.reconnectInMs],
      ['token_expired', 1003, 'token expired', 0],
    );
    await connected;
    assert.equal(calls, 2);
  });

  test('getToken before exp: the new token goes on the live JSON connection', async () => {
    let calls = 0;
    const client = pulse(auth.wsUrl, {
      ...fast,
      protocol: 'json',
      tokenRefreshMarginMs: 1000,
      getToken: () => {
        calls++;
        return sign({ sub: 'ann', exp: now() + 2 });
      },
    });
    closers.push(() => client.close());
    const lost: DisconnectInfo[] = [];
    client.on('disconnected', (d) => lost.push(d));
    const s = client.subscribe('tok', () => {});
    client.connect();
    await s.ready();
    const id = client.connectionId;
    await sleep(2600);
    assert.ok(calls >= 2, `getToken called ${calls} times`);
    assert.deepEqual(lost, []);
    assert.equal(client.connectionId, id);
  });

  test('the server\'s "token expired" disconnect push reads as error 1003 token expired', async () => {
    const client = pulse(auth.wsUrl, {
      ...fast,
      protocol: 'json',
      token: await sign({ sub: 'cy', exp: now() + 1 }),
    });
    closers.push(() => client.close());
    const errors: PulseError[] = [];
    client.on('error', (e) => errors.push(e as PulseError));
    const connected = next((f) => client.on('connected', f));
    const closed = next<DisconnectInfo>((f) => client.on('closed', f), 4000);
    client.connect();
    await connected;
    const info = await closed;
    // A fixed token cannot be refreshed: the expiry is terminal, and says why.
    assert.equal(info.reason, 'unauthorized');
    assert.equal(info.message, 'token expired: no getToken to refresh it');
    assert.deepEqual(
      errors.map((e) => [e.code, e.message]),
      [[1003, 'token expired']],
    );
  });
});

describe('the SDK over the JSON protocol: a server whose messages cannot be read', () => {
  /** A WebSocket server that answers the SDK's connect with `reply(id)`, then sends `after`. */
  async function hostile(reply: (id: number) => string, after?: string): Promise<string> {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((r) => wss.once('listening', r));
    closers.push(() => new Promise((r) => wss.close(r)));
    wss.on('connection', (ws) => {
      ws.send(Buffer.from([0, 0, 0, 1, 0xc1])); // binary: ignored by a JSON client
      ws.on('message', (data) => {
        const request = JSON.parse(String(data));
        if (request.method !== 'connect') return;
        ws.send(reply(request.id));
        // Once the test has its error handler on the client.
        if (after !== undefined) setTimeout(() => ws.send(after), 50);
      });
    });
    return `ws://127.0.0.1:${(wss.address() as { port: number }).port}/ws`;
  }

  test('a broken connect reply fails the connect with 1001, no crash', async () => {
    const url = await hostile(() => '{"id":1,"result":');
    await assert.rejects(jsonClient(url), (e: PulseError) => e.code === 1001 && /JSON/.test(e.message));
    const noClient = await hostile((id) => JSON.stringify({ id, result: { connected: true } }));
    await assert.rejects(jsonClient(noClient), (e: PulseError) => e.code === 1001);
  });

  test('an unreadable push after connect: error 1001, then the connection closes', async () => {
    const good = (id: number) =>
      JSON.stringify({ id, result: { client: 'c1', version: 1, heartbeat: 25000 } });
    for (const push of [
      '{"method":"publication","params":{"channel":"x","data":"@@@","encoding":"base64"}}',
      '{"method":"publication","params":{"channel":"x","data":1,"encoding":"hex"}}',
      '{"method":"publication","params":{"data":1}}',
      '[1,2]',
    ]) {
      const client = await jsonClient(await hostile(good, push));
      assert.equal(client.connectionId, 'c1');
      const errors = new Inbox<PulseError>();
      client.onError(errors.push);
      await client.closed;
      assert.deepEqual(
        errors.items.map((e) => e.code),
        [1001],
        push,
      );
    }
  });
});
