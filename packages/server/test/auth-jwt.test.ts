import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import { spawnSync } from 'node:child_process';
import { type KeyObject, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { PulseClient, PulseError } from '@pulse/client';
import { PresenceAction } from '@pulse/protocol';
import { openTcp } from '@pulse/client/tcp';
import { exportJWK } from 'jose';
import { pino } from 'pino';
import WebSocket from 'ws';
import { AuthConfigError } from '../src/auth/errors.js';
import { defaultConfig } from '../src/config/index.js';
import { PulseServer } from '../src/server.js';
import {
  HookServer,
  JsonClient,
  NativeTcp,
  SECRET,
  now,
  reply,
  sign,
  startWith,
  token,
} from './auth-helpers.js';
import { type Harness, Inbox, metricValue, scrape, sleep, startServer } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'pulse-auth-jwt-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const ws = WebSocket as never;
const Unauthorized = 1003;
const Forbidden = 1004;
const NotSubscribed = 1008;

function pemFile(name: string, key: KeyObject): string {
  const path = join(dir, name);
  writeFileSync(path, key.export({ type: 'spki', format: 'pem' }) as string);
  return path;
}

describe('JWT HS256 over the native protocol (raw frames over TCP)', () => {
  let h: Harness;
  before(async () => {
    h = await startServer({ auth: { enabled: true, jwt_hmac_secret: SECRET } });
  });
  after(() => h.stop());

  test('before connect: nothing but ping, everything else 1003 with its id; nothing is sent on open', async () => {
    const c = await NativeTcp.open(h.tcpPort);
    await sleep(50);
    assert.equal(c.frames.items.length, 0, 'no connected frame before a valid connect');
    c.send({ type: 'subscribe', id: 7, channel: 'chat' });
    await c.expectError(Unauthorized, 7);
    c.send({ type: 'publish', id: 8, channel: 'chat', payload: Buffer.from('x') });
    await c.expectError(Unauthorized, 8);
    c.send({ type: 'presence', id: 9, channel: 'chat', action: 3 });
    await c.expectError(Unauthorized, 9);
    c.send({ type: 'ping', timestamp: 42 });
    assert.deepEqual(await c.next(), { type: 'pong', timestamp: 42 });
    c.send({ type: 'connect', version: 1, token: await token('ann') });
    const connected = (await c.next()) as { type: string; connection_id: string };
    assert.equal(connected.type, 'connected');
    c.send({ type: 'subscribe', id: 10, channel: 'chat' });
    await c.expectAck(10);
    c.destroy();
  });

  test('connect without a token, with garbage, with a wrong signature: 1003, then the connection closes', async () => {
    const forged = await sign({ sub: 'ann', exp: now() + 60 }, 'another-secret-of-at-least-32-characters');
    for (const bad of [undefined, '', 'garbage', 'a.b.c', forged]) {
      const { c, reply: frame } = await NativeTcp.connect(h.tcpPort, bad);
      assert.equal((frame as { code?: number }).code, Unauthorized, `token ${bad}`);
      await c.expectClosed();
    }
  });

  test('exp in the past and nbf in the future are refused; the message says why', async () => {
    const expired = await sign({ sub: 'ann', exp: now() - 10 });
    const early = await sign({ sub: 'ann', nbf: now() + 600, exp: now() + 3600 });
    const noSub = await sign({ exp: now() + 60 });
    for (const [bad, why] of [
      [expired, /expired/],
      [early, /not yet valid/],
      [noSub, /sub/],
    ] as const) {
      const { c, reply: frame } = await NativeTcp.connect(h.tcpPort, bad);
      assert.equal((frame as { code?: number }).code, Unauthorized);
      assert.match((frame as { message: string }).message, why);
      await c.expectClosed();
    }
  });

  test('channels allowlist with wildcards: subscribe, publish, presence and history are checked (1004)', async () => {
    const t = await token('ann', ['chat/#', 'news/+']);
    const { c, reply: frame } = await NativeTcp.connect(h.tcpPort, t);
    assert.equal(frame.type, 'connected');
    c.send({ type: 'subscribe', id: 1, channel: 'chat/+/x' });
    await c.expectAck(1);
    c.send({ type: 'subscribe', id: 2, channel: 'news/+' });
    await c.expectAck(2);
    c.send({ type: 'subscribe', id: 3, channel: 'news/#' });
    await c.expectError(Forbidden, 3);
    c.send({ type: 'subscribe', id: 4, channel: '#' });
    await c.expectError(Forbidden, 4);
    c.send({ type: 'subscribe', id: 5, channel: 'other' });
    await c.expectError(Forbidden, 5);
    c.send({ type: 'publish', id: 6, channel: 'chat/a', payload: Buffer.from('hi') });
    await c.expectAck(6);
    c.send({ type: 'publish', id: 7, channel: 'other', payload: Buffer.from('no') });
    await c.expectError(Forbidden, 7);
    c.send({ type: 'presence', id: 8, channel: 'other', action: 0 });
    await c.expectError(Forbidden, 8);
    c.send({ type: 'presence', id: 9, channel: 'chat/room', action: 0 });
    await c.expectAck(9);
    c.send({ type: 'history', id: 10, channel: 'other' });
    await c.expectError(Forbidden, 10);
    // A name the protocol refuses anyway keeps its own error (1002), not 1004.
    c.send({ type: 'publish', id: 11, channel: 'chat/+', payload: Buffer.from('x') });
    await c.expectError(1002, 11);
    c.destroy();
    const text = await scrape(h);
    assert.ok(metricValue(text, 'pulse_auth_denied_total{protocol="native",action="subscribe"}') >= 3);
    assert.ok(metricValue(text, 'pulse_auth_denied_total{protocol="native",action="publish"}') >= 1);
  });

  test('a second connect replaces the token (refresh); a refused one closes', async () => {
    const { c } = await NativeTcp.connect(h.tcpPort, await token('ann', ['a']));
    c.send({ type: 'subscribe', id: 1, channel: 'b' });
    await c.expectError(Forbidden, 1);
    c.send({ type: 'connect', version: 1, token: await token('ann', ['a', 'b']) });
    assert.equal((await c.next()).type, 'connected');
    c.send({ type: 'subscribe', id: 2, channel: 'b' });
    await c.expectAck(2);
    c.send({ type: 'connect', version: 1, token: 'nope' });
    await c.expectError(Unauthorized);
    await c.expectClosed();
  });

  test('a refresh with fewer channels drops the subscriptions and presence it no longer allows', async () => {
    const { c } = await NativeTcp.connect(h.tcpPort, await token('ann', ['a/#', 'b/#']));
    const { c: pub } = await NativeTcp.connect(h.tcpPort, await token('bob'));
    c.send({ type: 'presence', id: 1, channel: 'b/1', action: PresenceAction.Join });
    await c.expectAck(1);
    c.send({ type: 'subscribe', id: 2, channel: 'a/1' });
    await c.expectAck(2);
    c.send({ type: 'subscribe', id: 3, channel: 'b/1' });
    await c.expectAck(3);
    c.send({ type: 'connect', version: 1, token: await token('ann', ['a/#']) });
    assert.equal((await c.next()).type, 'connected');
    pub.send({ type: 'presence', id: 4, channel: 'b/1', action: PresenceAction.Sync });
    const sync = (await pub.next()) as { type: string; data: object };
    assert.deepEqual([sync.type, sync.data], ['presence', {}], 'the presence on b/1 was left');
    pub.send({ type: 'publish', id: 5, channel: 'b/1', payload: Buffer.from('b') });
    await pub.expectAck(5);
    pub.send({ type: 'publish', id: 6, channel: 'a/1', payload: Buffer.from('a') });
    await pub.expectAck(6);
    const got = (await c.next()) as { type: string; channel: string };
    assert.deepEqual([got.type, got.channel], ['publish', 'a/1'], 'only a/1 arrives');
    c.send({ type: 'unsubscribe', id: 7, channel: 'b/1' });
    await c.expectError(NotSubscribed, 7);
    c.destroy();
    pub.destroy();
  });

  test('failed authentications are counted by protocol and reason', async () => {
    const text = await scrape(h);
    assert.ok(metricValue(text, 'pulse_auth_failures_total{protocol="native",reason="no_token"}') >= 2);
    assert.ok(metricValue(text, 'pulse_auth_failures_total{protocol="native",reason="malformed"}') >= 2);
    assert.ok(metricValue(text, 'pulse_auth_failures_total{protocol="native",reason="bad_signature"}') >= 1);
    assert.ok(metricValue(text, 'pulse_auth_failures_total{protocol="native",reason="expired"}') >= 1);
    assert.ok(metricValue(text, 'pulse_auth_failures_total{protocol="native",reason="not_yet_valid"}') >= 1);
    assert.ok(metricValue(text, 'pulse_auth_successes_total{protocol="native"}') >= 3);
  });
});

describe('JWT with the TypeScript client and the JSON protocol', () => {
  let h: Harness;
  before(async () => {
    h = await startServer({ auth: { enabled: true, jwt_hmac_secret: SECRET } });
  });
  after(() => h.stop());

  test('PulseClient with a token over WebSocket and TCP; a bad token rejects the connect with 1003', async () => {
    const t = await token('ann', ['room/#']);
    const a = await PulseClient.connect(h.wsUrl, { WebSocket: ws, token: t });
    const b = await PulseClient.over(await openTcp('127.0.0.1', h.tcpPort), { token: t });
    const inbox = new Inbox<string>();
    await a.subscribe('room/+', (p) => inbox.push(Buffer.from(p.payload).toString()));
    await b.publish('room/1', 'hello');
    assert.deepEqual(await inbox.waitFor(1), ['hello']);
    await assert.rejects(b.publish('elsewhere', 'x'), (e: PulseError) => e.code === Forbidden);
    await assert.rejects(
      a.subscribe('#', () => {}),
      (e: PulseError) => e.code === Forbidden,
    );
    await assert.rejects(
      PulseClient.connect(h.wsUrl, { WebSocket: ws, token: 'bad' }),
      (e: PulseError) => e instanceof PulseError && e.code === Unauthorized,
    );
    await a.close();
    await b.close();
  });

  test('JSON: 401 before connect and for a bad token (the socket stays open), 403 outside the channels', async () => {
    const c = await JsonClient.open(h.wsUrl);
    assert.equal(await c.code('subscribe', { channel: 'room/a' }), 401);
    assert.deepEqual(await c.ok('ping'), {});
    assert.equal(await c.code('connect', { token: 'garbage' }), 401);
    assert.equal(await c.code('connect', {}), 401);
    assert.equal(await c.code('connect', { token: await sign({ sub: 'x', exp: now() - 5 }) }), 401);
    const result = await c.ok('connect', { token: await token('ann', ['room/#']) });
    assert.equal(result.connected, true);
    assert.deepEqual(await c.ok('subscribe', { channel: 'room/+' }), {});
    assert.equal(await c.code('subscribe', { channel: 'other' }), 403);
    assert.equal(await c.code('publish', { channel: 'other', data: 1 }), 403);
    assert.equal(await c.code('presence', { channel: 'other' }), 403);
    assert.equal(await c.code('history', { channel: 'other' }), 403);
    assert.deepEqual(await c.ok('publish', { channel: 'room/a', data: { x: 1 } }), {});
    const push = await c.pushes.waitFor(1);
    assert.deepEqual(at(push, 0).params, { channel: 'room/a', data: { x: 1 } });
    c.close();
    const text = await scrape(h);
    assert.ok(metricValue(text, 'pulse_auth_failures_total{protocol="json",reason="no_token"}') >= 1);
    assert.ok(metricValue(text, 'pulse_auth_denied_total{protocol="json",action="subscribe"}') >= 1);
    assert.ok(metricValue(text, 'pulse_json_errors_total{code="401"}') >= 4);
  });

  test('JSON: a refresh with fewer channels drops the subscriptions and presence it no longer allows', async () => {
    const c = await JsonClient.open(h.wsUrl);
    const pub = await JsonClient.open(h.wsUrl);
    await c.ok('connect', { token: await token('ann', ['a/#', 'b/#']) });
    await pub.ok('connect', { token: await token('bob') });
    await c.ok('presence_join', { channel: 'b/1' });
    await c.ok('subscribe', { channel: 'a/1' });
    await c.ok('subscribe', { channel: 'b/1' });
    assert.equal((await c.ok('connect', { token: await token('ann', ['a/#']) })).connected, true);
    assert.deepEqual(await pub.ok('presence', { channel: 'b/1' }), { presence: {} });
    await pub.ok('publish', { channel: 'b/1', data: 'b' });
    await pub.ok('publish', { channel: 'a/1', data: 'a' });
    const [push] = await c.pushes.waitFor(1);
    assert.ok(push !== undefined);
    assert.deepEqual(push.params, { channel: 'a/1', data: 'a' });
    assert.equal(await c.code('unsubscribe', { channel: 'b/1' }), 400, 'b/1 was dropped');
    assert.equal(c.pushes.items.length, 1, 'b/1 never arrived');
    c.close();
    pub.close();
  });

  test('a token that expires while connected: native error 1003 then close; JSON disconnect push then close', async () => {
    const short = await sign({ sub: 'ann', exp: now() + 2 });
    const { c } = await NativeTcp.connect(h.tcpPort, short);
    const j = await JsonClient.open(h.wsUrl);
    await j.ok('connect', { token: short });
    const started = Date.now();
    const error = await c.expectError(Unauthorized);
    assert.match(error.message, /token expired/);
    await c.expectClosed();
    const [push] = await j.pushes.waitFor(1, 5000);
    assert.deepEqual(push, { method: 'disconnect', params: { reason: 'token expired' } });
    await j.closed;
    assert.ok(Date.now() - started < 4000);
  });
});

describe('the auth timeout (limits.handshake_timeout_ms, shortened for the test)', () => {
  let h: Awaited<ReturnType<typeof startWith>>;
  before(async () => {
    h = await startWith({
      auth: { enabled: true, jwt_hmac_secret: SECRET },
      limits: { handshake_timeout_ms: 200 },
    });
  });
  after(() => h.stop());

  test('native: error 1003, then the close', async () => {
    const c = await NativeTcp.open(h.tcpPort);
    const error = await c.expectError(Unauthorized);
    assert.match(error.message, /in time/);
    await c.expectClosed();
  });

  test('a socket that has spoken JSON gets the JSON disconnect push (no binary frame), then the close', async () => {
    const c = await JsonClient.open(h.wsUrl);
    let binary = 0;
    c.ws.on('message', (_data, isBinary) => {
      if (isBinary) binary++;
    });
    assert.deepEqual(await c.ok('ping'), {});
    const [push] = await c.pushes.waitFor(1, 3000);
    assert.deepEqual(push, {
      method: 'disconnect',
      params: { reason: 'no connect with a valid token in time' },
    });
    assert.equal(await c.closed, 1000);
    assert.equal(binary, 0);
  });

  test('authenticated in time: not closed', async () => {
    const c = await JsonClient.open(h.wsUrl);
    await c.ok('connect', { token: await token('ann') });
    await sleep(400);
    assert.deepEqual(await c.ok('ping'), {});
    c.close();
  });
});

describe('JWT RS256 and ES256 public keys (PEM files)', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });

  for (const [alg, pair] of [
    ['RS256', rsa],
    ['ES256', ec],
  ] as const) {
    test(`${alg}: a token signed by the private key is accepted; other keys and algorithms are not`, async () => {
      const path = pemFile(`${alg}.pem`, pair.publicKey);
      const h = await startServer({ auth: { enabled: true, jwt_public_key: path } });
      try {
        const good = await sign({ sub: 'ann', exp: now() + 60, channels: ['a'] }, pair.privateKey, { alg });
        const { c, reply: frame } = await NativeTcp.connect(h.tcpPort, good);
        assert.equal(frame.type, 'connected');
        c.send({ type: 'subscribe', id: 1, channel: 'b' });
        await c.expectError(Forbidden, 1);
        c.destroy();
        const refused = [
          // HMAC is not accepted when only a public key is configured (and never with it as the secret).
          await sign({ sub: 'ann', exp: now() + 60 }),
          await sign(
            { sub: 'ann', exp: now() + 60 },
            pair.publicKey.export({ type: 'spki', format: 'pem' }) as string,
          ),
          await sign({ sub: 'ann', exp: now() + 60 }, other.privateKey, { alg: 'ES256' }),
        ];
        for (const bad of refused) {
          const r = await NativeTcp.connect(h.tcpPort, bad);
          assert.equal((r.reply as { code?: number }).code, Unauthorized);
          await r.c.expectClosed();
        }
      } finally {
        await h.stop();
      }
    });
  }

  test('aud and iss are checked when configured', async () => {
    const h = await startServer({
      auth: { enabled: true, jwt_hmac_secret: SECRET, jwt_audience: 'pulse', jwt_issuer: 'https://issuer' },
    });
    try {
      const cases: [Record<string, unknown>, boolean][] = [
        [{ aud: 'pulse', iss: 'https://issuer' }, true],
        [{ aud: ['other', 'pulse'], iss: 'https://issuer' }, true],
        [{ aud: 'other', iss: 'https://issuer' }, false],
        [{ iss: 'https://issuer' }, false],
        [{ aud: 'pulse', iss: 'https://evil' }, false],
      ];
      for (const [claims, ok] of cases) {
        const { c, reply: frame } = await NativeTcp.connect(
          h.tcpPort,
          await sign({ sub: 'ann', exp: now() + 60, ...claims }),
        );
        assert.equal(frame.type, ok ? 'connected' : 'error', JSON.stringify(claims));
        c.destroy();
      }
      assert.ok(
        metricValue(await scrape(h), 'pulse_auth_failures_total{protocol="native",reason="bad_claims"}') >= 3,
      );
    } finally {
      await h.stop();
    }
  });

  test('an unreadable or invalid PEM key stops start-up with one clear line (library and CLI)', () => {
    const notPem = join(dir, 'not.pem');
    writeFileSync(notPem, 'hello');
    for (const [path, why] of [
      [join(dir, 'missing.pem'), /cannot read .*ENOENT/],
      [notPem, /is not a PEM public key/],
    ] as const) {
      const config = defaultConfig();
      config.auth.enabled = true;
      config.auth.jwt_public_key = path;
      assert.throws(
        () => new PulseServer(config, { logger: pino({ level: 'silent' }) }),
        (e: Error) =>
          e instanceof AuthConfigError && why.test(e.message) && e.message.startsWith('auth.jwt_public_key'),
      );
      const cli = fileURLToPath(new URL('../src/cli.js', import.meta.url));
      const res = spawnSync(
        process.execPath,
        [cli, '--tcp-port', '0', '--metrics-port', '0', '--mqtt-port', '0'],
        {
          encoding: 'utf8',
          env: { PATH: process.env.PATH ?? '', PULSE_AUTH_ENABLED: 'true', PULSE_AUTH_JWT_PUBLIC_KEY: path },
        },
      );
      assert.equal(res.status, 1);
      const lines = res.stderr.trim().split('\n');
      assert.equal(lines.length, 1, res.stderr);
      assert.match(at(lines, 0), /^pulse: auth\.jwt_public_key: /);
      assert.match(at(lines, 0), why);
    }
  });
});

describe('JWKS URL', () => {
  const a = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const b = generateKeyPairSync('rsa', { modulusLength: 2048 });
  let keys: object[] = [];
  let jwks: HookServer;
  let h: Harness;
  before(async () => {
    keys = [{ ...(await exportJWK(a.publicKey)), kid: 'a', alg: 'ES256', use: 'sig' }];
    jwks = await new HookServer((_body, res) => reply(res, { keys })).start();
    h = await startServer({
      auth: { enabled: true, jwks_url: `${jwks.url}/jwks.json`, jwks_cache_ms: 1000 },
    });
  });
  after(async () => {
    await h.stop();
    await jwks.stop();
  });

  test('keys are fetched once and cached; a rotated key (new kid) is fetched when it first appears', async () => {
    const tokenA = await sign({ sub: 'ann', exp: now() + 60 }, a.privateKey, { alg: 'ES256', kid: 'a' });
    for (let i = 0; i < 3; i++) {
      const { c, reply: frame } = await NativeTcp.connect(h.tcpPort, tokenA);
      assert.equal(frame.type, 'connected');
      c.destroy();
    }
    assert.equal(jwks.count(), 1, 'one download for three connects');
    // Rotation: key b appears with a new kid.
    keys = [at(keys, 0), { ...(await exportJWK(b.publicKey)), kid: 'b', alg: 'RS256', use: 'sig' }];
    await sleep(1100);
    const tokenB = await sign({ sub: 'bob', exp: now() + 60 }, b.privateKey, { alg: 'RS256', kid: 'b' });
    const { c, reply: frame } = await NativeTcp.connect(h.tcpPort, tokenB);
    assert.equal(frame.type, 'connected', JSON.stringify(frame));
    c.destroy();
    assert.equal(jwks.count(), 2);
    // An unknown kid is refused.
    const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const tokenC = await sign({ sub: 'eve', exp: now() + 60 }, stranger.privateKey, {
      alg: 'ES256',
      kid: 'c',
    });
    const r = await NativeTcp.connect(h.tcpPort, tokenC);
    assert.equal((r.reply as { code?: number }).code, Unauthorized);
    r.c.destroy();
  });

  test('a JWKS endpoint that is down: 1003, counted as jwks_unavailable', async () => {
    const down = await startServer({
      auth: { enabled: true, jwks_url: 'http://127.0.0.1:9/jwks.json', jwks_cache_ms: 1000 },
    });
    try {
      const t = await sign({ sub: 'ann', exp: now() + 60 }, a.privateKey, { alg: 'ES256', kid: 'a' });
      const { c, reply: frame } = await NativeTcp.connect(down.tcpPort, t);
      assert.equal((frame as { code?: number }).code, Unauthorized);
      await c.expectClosed();
      const text = await scrape(down);
      assert.equal(
        metricValue(text, 'pulse_auth_failures_total{protocol="native",reason="jwks_unavailable"}'),
        1,
      );
    } finally {
      await down.stop();
    }
  });
});
