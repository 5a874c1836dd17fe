import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { DisconnectInfo, Publication, Pulse, PulseError } from '@pulse/client';
import { SECRET, now, sign } from './auth-helpers.js';
import { type Harness, sleep, startServer } from './helpers.js';
import { next, pulse, until } from './sdk-helpers.js';

let h: Harness;
before(async () => {
  h = await startServer({ auth: { enabled: true, jwt_hmac_secret: SECRET } });
});
const closers: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const close of closers.reverse()) await close();
  await h.stop();
});

const fast = { minReconnectDelayMs: 50, maxReconnectDelayMs: 100 };

describe('tokens', () => {
  test('getToken is called on connect and again before exp; the new token goes on the live connection', async () => {
    let calls = 0;
    const client = pulse(h.wsUrl, {
      ...fast,
      tokenRefreshMarginMs: 1000,
      getToken: () => {
        calls++;
        return sign({ sub: 'ann', exp: now() + 3 });
      },
    });
    closers.push(() => client.close());
    const disconnects: DisconnectInfo[] = [];
    client.on('disconnected', (d) => disconnects.push(d));
    const seen: string[] = [];
    const s = client.subscribe('tok', (p: Publication) => seen.push(new TextDecoder().decode(p.payload)));
    client.connect();
    await s.ready();
    const id = client.connectionId;
    // Past the first token's exp (2-3 s away): the server would have closed the connection.
    await sleep(4200);
    assert.ok(calls >= 2, `getToken called ${calls} times`);
    assert.deepEqual(disconnects, [], 'never disconnected');
    assert.equal(client.connectionId, id, 'the same connection');
    assert.equal(s.state, 'subscribed');
    await client.publish('tok', 'still here');
    await until(() => seen.length === 1, 'the publication on the kept subscription');
  });

  test('a token refused as expired is refreshed once; the fresh one connects', async () => {
    const tokens = [sign({ sub: 'bob', exp: now() - 10 }), sign({ sub: 'bob', exp: now() + 3600 })];
    let calls = 0;
    const client = pulse(h.wsUrl, {
      ...fast,
      getToken: () => tokens[calls++] ?? Promise.reject(new Error('none')),
    });
    closers.push(() => client.close());
    const lost = next<DisconnectInfo & { reconnectInMs?: number }>((f) => client.on('disconnected', f));
    const connected = next((f) => client.on('connected', f));
    client.connect();
    const info = await lost;
    assert.equal(info.reason, 'token_expired');
    assert.equal(info.reconnectInMs, 0, 'at once, not after a backoff');
    await connected;
    assert.equal(calls, 2);
  });

  test('a token refused as expired twice in a row is terminal: one refresh, not a loop', async () => {
    let calls = 0;
    const client = pulse(h.wsUrl, {
      ...fast,
      getToken: () => {
        calls++;
        return sign({ sub: 'cy', exp: now() - 10 });
      },
    });
    closers.push(() => client.close());
    const closed = next<DisconnectInfo>((f) => client.on('closed', f));
    client.connect();
    const info = await closed;
    assert.equal(info.reason, 'unauthorized');
    assert.match(info.message, /expired/);
    assert.equal(info.error?.code, 1003);
    await sleep(500);
    assert.equal(calls, 2, 'one refresh');
    assert.equal(client.state, 'closed');
  });

  test('a bad token is terminal: no reconnect, the reason says why', async () => {
    let calls = 0;
    let attempts = 0;
    const client = pulse(h.wsUrl, {
      ...fast,
      getToken: () => {
        calls++;
        return sign({ sub: 'dee', exp: now() + 3600 }, 'another-secret-of-at-least-32-characters!');
      },
    });
    closers.push(() => client.close());
    client.on('connecting', () => attempts++);
    const queued = client.publish('x', 'never sent');
    const closed = next<DisconnectInfo>((f) => client.on('closed', f));
    client.connect();
    const info = await closed;
    assert.equal(info.reason, 'unauthorized');
    assert.equal(info.error?.code, 1003);
    assert.match(info.message, /signature/);
    await assert.rejects(queued, { name: 'PulseClientError', kind: 'closed' });
    await sleep(400);
    assert.deepEqual([calls, attempts], [1, 1]);
  });

  test('a getToken that never answers is given up after connectTimeoutMs (token_unavailable), then tried again', async () => {
    let calls = 0;
    const client = pulse(h.wsUrl, {
      ...fast,
      connectTimeoutMs: 300,
      getToken: () =>
        ++calls === 1 ? new Promise<string>(() => {}) : sign({ sub: 'fay', exp: now() + 3600 }),
    });
    closers.push(() => client.close());
    const lost = next<DisconnectInfo>((f) => client.on('disconnected', f));
    const connected = next((f) => client.on('connected', f));
    client.connect();
    const info = await lost;
    assert.equal(info.reason, 'token_unavailable');
    assert.match(info.message, /did not answer within 300 ms/);
    await connected;
    assert.equal(calls, 2);
  });

  test('a refresh whose getToken never answers is given up after connectTimeoutMs and tried again before exp', async () => {
    let calls = 0;
    const client = pulse(h.wsUrl, {
      ...fast,
      connectTimeoutMs: 300,
      tokenRefreshMarginMs: 2500,
      getToken: () =>
        ++calls === 2
          ? new Promise<string>(() => {})
          : sign({ sub: 'gus', exp: now() + (calls === 1 ? 6 : 3600) }),
    });
    closers.push(() => client.close());
    const disconnects: DisconnectInfo[] = [];
    client.on('disconnected', (d) => disconnects.push(d));
    const errors: string[] = [];
    client.on('error', (err) => errors.push(err.message));
    client.connect();
    await until(() => client.state === 'connected', 'connected');
    const id = client.connectionId;
    // The first token expires 5-6 s from now; its refresh starts 2.5 s before, hangs, is given
    // up 300 ms later and tried again a second after that: in time.
    await sleep(6500);
    assert.equal(calls, 3, 'the hung refresh was given up and getToken called again');
    assert.ok(
      errors.some((m) => /did not answer within 300 ms/.test(m)),
      `errors: ${errors.join('; ')}`,
    );
    assert.deepEqual(disconnects, [], 'never disconnected: the token was refreshed before exp');
    assert.equal(client.connectionId, id, 'the same connection');
  });

  test('an error without a request id that comes while a refresh waits (a refused publish without ack) does not end the connection', async () => {
    let calls = 0;
    const client: Pulse = pulse(h.wsUrl, {
      ...fast,
      tokenRefreshMarginMs: 1000,
      getToken: () => {
        // The refresh: a publish the token forbids goes out just before the new token, so its
        // error (id 0) arrives while the refresh waits for `connected`.
        if (++calls === 2) void client.publish('not-allowed', 'x', { ack: false });
        return sign({ sub: 'gil', exp: now() + 3, channels: ['tok/#'] });
      },
    });
    closers.push(() => client.close());
    const disconnects: DisconnectInfo[] = [];
    client.on('disconnected', (d) => disconnects.push(d));
    const errors: number[] = [];
    client.on('error', (e) => errors.push((e as PulseError).code));
    client.connect();
    await until(() => client.state === 'connected', 'connected');
    const id = client.connectionId;
    await until(() => calls >= 2, 'the refresh', 4000);
    await sleep(500);
    assert.deepEqual(disconnects, [], 'never disconnected');
    assert.equal(client.connectionId, id, 'the same connection');
    assert.deepEqual(errors, [1004], 'the refused publish is an error event');
  });

  test('a device clock minutes ahead does not make every fresh token look expired: no refresh loop', async () => {
    // The client runs in a process of its own whose clock is 5 minutes fast; the tokens are
    // right by the server's clock (valid 60 s), with and without `iat`.
    const script = `
      import { SignJWT } from 'jose';
      import WebSocket from 'ws';
      const realNow = Date.now;
      const key = new TextEncoder().encode(process.env.SECRET);
      const sign = (iat) => {
        const t = Math.floor(realNow() / 1000);
        return new SignJWT({ sub: 'skew', exp: t + 60, ...(iat ? { iat: t } : {}) })
          .setProtectedHeader({ alg: 'HS256' })
          .sign(key);
      };
      Date.now = () => realNow() + 5 * 60_000;
      const { Pulse } = await import('@pulse/client');
      const counts = {};
      for (const iat of [true, false]) {
        counts[iat] = 0;
        const getToken = () => (counts[iat]++, sign(iat));
        const p = new Pulse(process.env.PULSE_URL, { WebSocket, networkEvents: null, getToken });
        p.connect();
      }
      await new Promise((r) => setTimeout(r, 2500));
      console.log(JSON.stringify(counts));
      process.exit(0);
    `;
    const repo = fileURLToPath(new URL('../../../../', import.meta.url));
    const ran = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      cwd: repo,
      env: { ...process.env, PULSE_URL: h.wsUrl, SECRET },
      timeout: 20_000,
    });
    const counts = JSON.parse(ran.stdout) as Record<string, number>;
    // One token to connect; the next one is due in about 50 s (with iat) or at the server's
    // `token expired` (without), not every 100 ms.
    assert.deepEqual(counts, { true: 1, false: 1 });
  });

  test('a fixed token without getToken: its expiry on a live connection is terminal', async () => {
    const client = pulse(h.wsUrl, { ...fast, token: await sign({ sub: 'eve', exp: now() + 1 }) });
    closers.push(() => client.close());
    const closed = next<DisconnectInfo>((f) => client.on('closed', f), 4000);
    client.connect();
    await until(() => client.state === 'connected', 'connected');
    const info = await closed;
    assert.equal(info.reason, 'unauthorized');
    assert.match(info.message, /no getToken/);
  });
});
