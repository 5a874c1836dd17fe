import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import type { ServerResponse } from 'node:http';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { IConnackPacket, IPubackPacket, ISubackPacket } from 'mqtt-packet';
import type { HookRequest, HookResult } from '../src/auth/hooks.js';
import { HookServer, JsonClient, NativeTcp, SECRET, reply, startWith, token } from './auth-helpers.js';
import { metricValue, scrape, sleep } from './helpers.js';
import { type MqttHarness, RawMqtt, connectPacket, mqttClient } from './mqtt-helpers.js';

// biome-ignore lint/suspicious/noExplicitAny: JSON replies are checked field by field
type Json = Record<string, any>;
type Handler = (body: Json, res: ServerResponse) => void | Promise<void>;

const allow = (res: ServerResponse, extra: object = {}) => reply(res, { result: 'allow', ...extra });
const deny = (res: ServerResponse, message?: string) =>
  reply(res, { result: 'deny', ...(message ? { message } : {}) });

/** One hook server for the three hooks; `on[path]` answers, default allow. */
function hookServer(): { server: HookServer; on: Record<string, Handler> } {
  const on: Record<string, Handler> = {};
  const server = new HookServer((body, res, req) => (on[req.url ?? ''] ?? ((_b, r) => allow(r)))(body, res));
  return { server, on };
}

async function mqttLogin(h: MqttHarness, version: 4 | 5, fields: object = {}) {
  const raw = await RawMqtt.open(h.mqttPort, version);
  raw.send(connectPacket(version, fields));
  const connack = (await raw.next('connack')) as IConnackPacket;
  return { raw, code: (version === 5 ? connack.reasonCode : connack.returnCode) ?? 0 };
}

describe('connect hook (auth off: the hook is the authenticator)', () => {
  const { server: hooks, on } = hookServer();
  let h: MqttHarness;
  before(async () => {
    await hooks.start();
    h = await startWith({ hooks: { connect_url: `${hooks.url}/connect`, timeout_ms: 1000 } });
  });
  after(async () => {
    await h.stop();
    await hooks.stop();
  });
  beforeEach(() => {
    for (const key of Object.keys(on)) delete on[key];
    hooks.requests.length = 0;
  });

  test('packets sent while the connect hook decides are held up to 4 MiB; past it the connection is closed', async () => {
    on['/connect'] = async (_body, res) => {
      await sleep(150);
      allow(res);
    };
    const raw = await RawMqtt.open(h.mqttPort, 5);
    raw.send(connectPacket(5, {}));
    // 4.4 MiB of PUBLISH before the CONNACK: an unauthenticated client cannot make the
    // server buffer more than 4 MiB for it.
    const big = Buffer.alloc(64 * 1024, 1);
    for (let i = 0; i < 70; i++) {
      raw.send({ cmd: 'publish', topic: 'held/t', payload: big, qos: 0, dup: false, retain: false });
    }
    // Closed before any CONNACK (so no DISCONNECT either: there is no session yet).
    await raw.expectClosed(3000);
    assert.deepEqual(
      raw.packets.items.map((p) => p.cmd),
      [],
    );
    // Within the limit, everything held is handled once the hook allows.
    const ok = await RawMqtt.open(h.mqttPort, 5);
    ok.send(connectPacket(5, {}));
    ok.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'held/ok', qos: 0 }] });
    assert.equal(((await ok.next('connack', 3000)) as IConnackPacket).reasonCode, 0);
    assert.deepEqual(((await ok.next('suback')) as ISubackPacket).granted, [0]);
    ok.destroy();
  });

  test('allow with user, channels and info; the request carries the documented fields', async () => {
    on['/connect'] = (body, res) =>
      body.token === 'let-me-in'
        ? allow(res, { user: 'hooked', channels: ['h/#'], info: { plan: 'pro' } })
        : deny(res, 'who are you?');
    const { c, reply: frame } = await NativeTcp.connect(h.tcpPort, 'let-me-in');
    assert.equal(frame.type, 'connected');
    const connectionId = (frame as { connection_id: string }).connection_id;
    c.send({ type: 'subscribe', id: 1, channel: 'h/a' });
    await c.expectAck(1);
    c.send({ type: 'subscribe', id: 2, channel: 'x' });
    await c.expectError(1004, 2);
    c.destroy();
    assert.deepEqual(hooks.requests[0], {
      path: '/connect',
      action: 'connect',
      protocol: 'native',
      connection_id: connectionId,
      remote_address: '127.0.0.1',
      token: 'let-me-in',
    });
    const j = await JsonClient.open(h.wsUrl);
    const result = await j.ok('connect', { token: 'let-me-in' });
    assert.deepEqual(result.info, { plan: 'pro' });
    assert.equal(await j.code('publish', { channel: 'x', data: 1 }), 403);
    j.close();
  });

  test('deny: native 1003 with the hook message then close, JSON 401, MQTT 0x87 / 5', async () => {
    on['/connect'] = (_b, res) => deny(res, 'who are you?');
    const { c, reply: frame } = await NativeTcp.connect(h.tcpPort, 'x');
    assert.deepEqual([(frame as Json).code, (frame as Json).message], [1003, 'who are you?']);
    await c.expectClosed();
    const j = await JsonClient.open(h.wsUrl);
    const r = await j.call('connect', { token: 'x' });
    assert.deepEqual(r.error, { code: 401, message: 'who are you?' });
    assert.equal(await j.code('subscribe', { channel: 'a' }), 401);
    j.close();
    for (const version of [5, 4] as const) {
      const m = await mqttLogin(h, version, { username: 'u', password: Buffer.from('p') });
      assert.equal(m.code, version === 5 ? 0x87 : 5);
      m.raw.destroy();
    }
  });

  test('MQTT: the hook gets the user name and (auth being off) the password', async () => {
    on['/connect'] = (body, res) => (body.password === 'open sesame' ? allow(res) : deny(res));
    const ok = await mqttLogin(h, 5, {
      clientId: 'hooky',
      username: 'ali',
      password: Buffer.from('open sesame'),
    });
    assert.equal(ok.code, 0);
    ok.raw.destroy();
    assert.deepEqual(hooks.requests[0], {
      path: '/connect',
      action: 'connect',
      protocol: 'mqtt',
      client_id: 'hooky',
      remote_address: '127.0.0.1',
      username: 'ali',
      password: 'open sesame',
    });
  });

  test('a failing hook fails closed: 500 or a timeout is native 1011, JSON 500, MQTT 0x88 / 3; counted', async () => {
    on['/connect'] = (_b, res) => reply(res, 'oops', 500);
    const a = await NativeTcp.connect(h.tcpPort, 't');
    assert.deepEqual([(a.reply as Json).code, (a.reply as Json).message], [1011, 'auth hook unavailable']);
    await a.c.expectClosed();
    on['/connect'] = async () => {}; // never answers
    const b = await NativeTcp.connect(h.tcpPort, 't');
    assert.equal((b.reply as Json).code, 1011);
    const j = await JsonClient.open(h.wsUrl);
    assert.equal(await j.code('connect', { token: 't' }), 500);
    j.close();
    on['/connect'] = (_b, res) => reply(res, '{"result": "maybe"}');
    for (const version of [5, 4] as const) {
      const m = await mqttLogin(h, version, { username: 'u' });
      assert.equal(m.code, version === 5 ? 0x88 : 3);
      m.raw.destroy();
    }
    const text = await scrape(h);
    assert.equal(metricValue(text, 'pulse_auth_hook_failures_total{hook="connect",reason="status"}'), 1);
    assert.equal(metricValue(text, 'pulse_auth_hook_failures_total{hook="connect",reason="timeout"}'), 2);
    assert.equal(
      metricValue(text, 'pulse_auth_hook_failures_total{hook="connect",reason="bad_response"}'),
      2,
    );
    assert.ok(
      metricValue(text, 'pulse_auth_failures_total{protocol="native",reason="hook_unavailable"}') >= 2,
    );
  });
});

describe('subscribe and publish hooks (auth on: JWT identities)', () => {
  const { server: hooks, on } = hookServer();
  let h: MqttHarness;
  before(async () => {
    await hooks.start();
    h = await startWith({
      auth: { enabled: true, jwt_hmac_secret: SECRET },
      hooks: {
        subscribe_url: `${hooks.url}/subscribe`,
        publish_url: `${hooks.url}/publish`,
        timeout_ms: 1000,
        cache_ttl_ms: 60_000,
      },
    });
  });
  after(async () => {
    await h.stop();
    await hooks.stop();
  });
  beforeEach(() => {
    for (const key of Object.keys(on)) delete on[key];
    hooks.requests.length = 0;
  });

  test('per-channel decisions with the deny message; answers cached per (user, action, channel)', async () => {
    on['/subscribe'] = (body, res) =>
      body.channel.startsWith('ok') ? allow(res) : deny(res, `no ${body.channel}`);
    const { c } = await NativeTcp.connect(h.tcpPort, await token('ann'));
    const { c: c2 } = await NativeTcp.connect(h.tcpPort, await token('ann'));
    c.send({ type: 'subscribe', id: 1, channel: 'ok/1' });
    await c.expectAck(1);
    c.send({ type: 'subscribe', id: 2, channel: 'nope' });
    const error = await c.expectError(1004, 2);
    assert.equal(error.message, 'no nope');
    // The same questions again, from another connection of the same user: from the cache.
    c2.send({ type: 'subscribe', id: 3, channel: 'ok/1' });
    await c2.expectAck(3);
    c2.send({ type: 'subscribe', id: 4, channel: 'nope' });
    await c2.expectError(1004, 4);
    assert.equal(
      hooks.count((r) => r.path === '/subscribe'),
      2,
    );
    assert.equal(at(hooks.requests, 0).user, 'ann');
    assert.equal(at(hooks.requests, 0).action, 'subscribe');
    assert.equal(at(hooks.requests, 0).protocol, 'native');
    // Another user is asked about separately.
    const { c: c3 } = await NativeTcp.connect(h.tcpPort, await token('bob'));
    c3.send({ type: 'subscribe', id: 5, channel: 'ok/1' });
    await c3.expectAck(5);
    assert.equal(
      hooks.count((r) => r.path === '/subscribe'),
      3,
    );
    for (const x of [c, c2, c3]) x.destroy();
    const text = await scrape(h);
    assert.ok(metricValue(text, 'pulse_auth_hook_cache_hits_total{hook="subscribe"}') >= 2);
    assert.ok(metricValue(text, 'pulse_auth_hook_requests_total{hook="subscribe"}') >= 3);
  });

  test('a slow publish hook keeps the order of one connection: later frames wait behind it', async () => {
    on['/publish'] = async (body, res) => {
      if (body.channel === 'order/slow') await sleep(150);
      allow(res);
    };
    const t = await token('ann');
    const { c: sub } = await NativeTcp.connect(h.tcpPort, t);
    sub.send({ type: 'subscribe', id: 1, channel: 'order/#' });
    await sub.expectAck(1);
    const { c: pub } = await NativeTcp.connect(h.tcpPort, await token('publisher'));
    pub.send({ type: 'publish', id: 1, channel: 'order/slow', payload: Buffer.from('1') });
    pub.send({ type: 'publish', id: 2, channel: 'order/fast', payload: Buffer.from('2') });
    pub.send({ type: 'ping', timestamp: 3 });
    pub.send({ type: 'publish', id: 4, channel: 'order/slow', payload: Buffer.from('4') }); // cached now
    await pub.expectAck(1);
    await pub.expectAck(2);
    assert.deepEqual(await pub.next(), { type: 'pong', timestamp: 3 });
    await pub.expectAck(4);
    const got = [await sub.next(), await sub.next(), await sub.next()].map((f) =>
      Buffer.from((f as Json).payload).toString(),
    );
    assert.deepEqual(got, ['1', '2', '4']);
    sub.destroy();
    pub.destroy();
  });

  test('publish hook failure fails closed: native 1011, JSON 500, MQTT v5 PUBACK 0x80; deny is 1004/403/0x87', async () => {
    on['/publish'] = async (body, res) => {
      if (body.channel === 'down') return reply(res, 'no', 503);
      if (body.channel === 'slow') return; // times out
      deny(res);
    };
    on['/subscribe'] = (body, res) => (body.channel === 'down' ? reply(res, 'not json') : deny(res));
    const t = await token('carl');
    const { c } = await NativeTcp.connect(h.tcpPort, t);
    c.send({ type: 'publish', id: 1, channel: 'down', payload: Buffer.from('x') });
    assert.equal((await c.expectError(1011, 1)).message, 'auth hook unavailable');
    c.send({ type: 'publish', id: 2, channel: 'slow', payload: Buffer.from('x') });
    await c.expectError(1011, 2);
    c.send({ type: 'publish', id: 3, channel: 'denied', payload: Buffer.from('x') });
    await c.expectError(1004, 3);
    c.destroy();
    const j = await JsonClient.open(h.wsUrl);
    await j.ok('connect', { token: t });
    assert.equal(await j.code('publish', { channel: 'down', data: 1 }), 500);
    assert.equal(await j.code('publish', { channel: 'denied', data: 1 }), 403);
    assert.equal(await j.code('subscribe', { channel: 'down' }), 500);
    j.close();
    const m = await mqttLogin(h, 5, { username: 'x', password: Buffer.from(t) });
    assert.equal(m.code, 0);
    m.raw.send({
      cmd: 'publish',
      topic: 'down',
      payload: Buffer.from('x'),
      qos: 1,
      messageId: 1,
      retain: false,
      dup: false,
    });
    assert.equal(((await m.raw.next('puback')) as IPubackPacket).reasonCode, 0x80);
    m.raw.send({
      cmd: 'publish',
      topic: 'denied',
      payload: Buffer.from('x'),
      qos: 1,
      messageId: 2,
      retain: false,
      dup: false,
    });
    assert.equal(((await m.raw.next('puback')) as IPubackPacket).reasonCode, 0x87);
    m.raw.send({
      cmd: 'subscribe',
      messageId: 3,
      subscriptions: [
        { topic: 'down', qos: 0 },
        { topic: 'denied', qos: 0 },
      ],
    });
    assert.deepEqual(((await m.raw.next('suback')) as ISubackPacket).granted, [0x80, 0x87]);
    m.raw.destroy();
    const text = await scrape(h);
    assert.ok(metricValue(text, 'pulse_auth_hook_failures_total{hook="publish",reason="status"}') >= 1);
    assert.ok(metricValue(text, 'pulse_auth_hook_failures_total{hook="publish",reason="timeout"}') >= 1);
    assert.ok(
      metricValue(text, 'pulse_auth_hook_failures_total{hook="subscribe",reason="bad_response"}') >= 1,
    );
    assert.ok(metricValue(text, 'pulse_auth_denied_total{protocol="mqtt",action="publish"}') >= 2);
    assert.ok(metricValue(text, 'pulse_auth_denied_total{protocol="json",action="publish"}') >= 2);
  });

  test('the allowlist is checked first: a channel outside it never reaches the hook', async () => {
    const { c } = await NativeTcp.connect(h.tcpPort, await token('dee', ['mine/#']));
    c.send({ type: 'subscribe', id: 1, channel: 'yours' });
    await c.expectError(1004, 1);
    c.destroy();
    assert.equal(hooks.count(), 0);
  });
});

describe('hooks as library functions', () => {
  test('connect, subscribe and publish functions (sync or async) take precedence over the URLs', async () => {
    const { server: urlHooks } = hookServer();
    await urlHooks.start();
    const asked: HookRequest[] = [];
    const h = await startWith(
      { hooks: { connect_url: `${urlHooks.url}/connect`, subscribe_url: `${urlHooks.url}/subscribe` } },
      {
        hooks: {
          connect(request): HookResult {
            asked.push(request);
            return request.token === 'good' ? { result: 'allow', user: 'lib-user' } : { result: 'deny' };
          },
          async subscribe(request) {
            asked.push(request);
            await sleep(10);
            return { result: request.channel === 'lib/ok' ? 'allow' : 'deny', message: 'library says no' };
          },
          publish(request) {
            asked.push(request);
            if (request.channel === 'boom') throw new Error('bug in the hook');
            return { result: 'allow' };
          },
        },
      },
    );
    try {
      const { c } = await NativeTcp.connect(h.tcpPort, 'good');
      c.send({ type: 'subscribe', id: 1, channel: 'lib/ok' });
      await c.expectAck(1);
      c.send({ type: 'subscribe', id: 2, channel: 'lib/no' });
      assert.equal((await c.expectError(1004, 2)).message, 'library says no');
      c.send({ type: 'publish', id: 3, channel: 'lib/pub', payload: Buffer.from('x') });
      await c.expectAck(3);
      c.send({ type: 'publish', id: 4, channel: 'boom', payload: Buffer.from('x') });
      await c.expectError(1011, 4);
      c.destroy();
      const bad = await NativeTcp.connect(h.tcpPort, 'bad');
      assert.equal((bad.reply as Json).code, 1003);
      assert.equal(urlHooks.count(), 0, 'the URLs were never asked');
      assert.deepEqual(
        asked.map((r) => [r.action, r.user, r.channel]),
        [
          ['connect', undefined, undefined],
          ['subscribe', 'lib-user', 'lib/ok'],
          ['subscribe', 'lib-user', 'lib/no'],
          ['publish', 'lib-user', 'lib/pub'],
          ['publish', 'lib-user', 'boom'],
          ['connect', undefined, undefined],
        ],
      );
      // MQTT asks the same library hook.
      const client = await mqttClient(h.tcpUrl, { protocolVersion: 5 }).catch((e) => e);
      assert.equal((client as { code?: number }).code, 0x87, 'no token: the library connect hook denies');
    } finally {
      await h.stop();
      await urlHooks.stop();
    }
  });
});
