import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { DisconnectInfo, Publication } from '@pulse/client';
import { type Harness, sleep, startServer } from './helpers.js';
import { TestProxy, next, pulse, until } from './sdk-helpers.js';

let h: Harness;
let proxy: TestProxy;
let proxied: string;
before(async () => {
  h = await startServer();
  proxy = await TestProxy.start(Number(new URL(h.httpUrl).port));
  proxied = `ws://127.0.0.1:${proxy.port}/ws`;
});
const closers: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const close of closers.reverse()) await close();
  await proxy.close();
  await h.stop();
});

const fast = { minReconnectDelayMs: 50, maxReconnectDelayMs: 100 };
const text = (p: Publication) => new TextDecoder().decode(p.payload);

/** Cuts the proxied client off and keeps it off until `proxy.refusing` is false again. */
async function cutOff(client: { state: string }): Promise<void> {
  proxy.refusing = true;
  proxy.cut();
  await until(() => client.state !== 'connected', 'the client to see the cut');
}

describe('publishing while offline', () => {
  test("offline: 'fail' rejects at once with kind offline; after close(), kind closed", async () => {
    const client = pulse(proxied, { ...fast, offline: 'fail' });
    closers.push(() => client.close());
    client.connect();
    await until(() => client.state === 'connected', 'connected');
    await client.publish('off/a', 'online');
    await cutOff(client);
    await assert.rejects(client.publish('off/a', 'x'), {
      name: 'PulseClientError',
      kind: 'offline',
      code: 1010,
    });
    await assert.rejects(client.publish('off/a', 'x', { ack: false }), { kind: 'offline' });
    await client.close();
    await assert.rejects(client.publish('off/a', 'x'), { kind: 'closed' });
    proxy.refusing = false;
  });

  test("offline: 'queue' sends in order after the reconnect, before anything newer; the bound is enforced", async () => {
    const client = pulse(proxied, { ...fast, offline: 'queue', maxOfflineQueue: 5 });
    const direct = pulse(h.wsUrl);
    closers.push(
      () => client.close(),
      () => direct.close(),
    );
    const seen: string[] = [];
    const s = direct.subscribe('off/q', (p) => seen.push(text(p)));
    direct.connect();
    client.connect();
    await s.ready();
    await until(() => client.state === 'connected', 'connected');
    await cutOff(client);

    let settled = 0;
    const queued = [0, 1, 2, 3].map((i) =>
      client.publish('off/q', `q${i}`).then(() => {
        settled++;
      }),
    );
    queued.push(client.publish('off/q', 'q4', { ack: false }).then(() => void settled++));
    await assert.rejects(client.publish('off/q', 'q5'), {
      name: 'PulseClientError',
      kind: 'queue_full',
      code: 1006,
    });
    await sleep(100);
    assert.equal(settled, 0, 'acked publishes do not resolve before they are acked');
    // Published from the connected handler: after the queue.
    client.on('connected', () => void client.publish('off/q', 'fresh'));
    proxy.refusing = false;
    await Promise.all(queued);
    await until(() => seen.length === 6, 'all six publications');
    assert.deepEqual(seen, ['q0', 'q1', 'q2', 'q3', 'q4', 'fresh']);
  });

  test('a publish on the wire when the connection drops is rejected with kind disconnected (not resent)', async () => {
    const client = pulse(proxied, { ...fast, offline: 'queue' });
    closers.push(() => client.close());
    client.connect();
    await until(() => client.state === 'connected', 'connected');
    proxy.stall();
    const inFlight = client.publish('off/w', 'lost?');
    await sleep(20);
    proxy.refusing = true;
    proxy.cut();
    await assert.rejects(inFlight, { kind: 'disconnected' });
    proxy.refusing = false;
  });
});

describe('stopping', () => {
  test('close() stops reconnecting; queued publishes fail with kind closed', async () => {
    const client = pulse(proxied, { ...fast, offline: 'queue' });
    closers.push(() => client.close());
    let attempts = 0;
    client.on('connecting', () => attempts++);
    client.connect();
    await until(() => client.state === 'connected', 'connected');
    await cutOff(client);
    await until(() => attempts >= 3, 'a few failed attempts');
    const queued = client.publish('stop', 'x');
    const closed = next<DisconnectInfo>((f) => client.on('closed', f));
    await client.close();
    assert.equal((await closed).reason, 'closed');
    await assert.rejects(queued, { kind: 'closed' });
    const after = attempts;
    await sleep(500);
    assert.equal(attempts, after, 'no attempt after close()');
    assert.equal(client.state, 'closed');
    proxy.refusing = false;
  });

  test('once close() has resolved nothing keeps a Node process alive: it exits at once', async () => {
    const script = `
      import { Pulse } from '@pulse/client';
      import WebSocket from 'ws';
      const pulse = new Pulse(process.env.PULSE_URL, { WebSocket, networkEvents: null });
      pulse.subscribe('exit', () => {});
      pulse.connect();
      await new Promise((resolve) => pulse.on('connected', resolve));
      await pulse.close();
      console.log('closed');
    `;
    // From the repository's root, where '@pulse/client' and 'ws' resolve.
    const repo = fileURLToPath(new URL('../../../../', import.meta.url));
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      cwd: repo,
      env: { ...process.env, PULSE_URL: h.wsUrl },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = once(child, 'exit');
    let closedAt = 0;
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('closed')) closedAt = Date.now();
    });
    const [code] = await exited;
    assert.equal(code, 0);
    assert.ok(closedAt > 0, 'close() resolved');
    const lingered = Date.now() - closedAt;
    assert.ok(lingered < 500, `the process lived ${lingered} ms after close() resolved`);
  });

  test('maxReconnectAttempts failed attempts in a row: closed with reason max_attempts', async () => {
    proxy.refusing = true;
    const client = pulse(proxied, { ...fast, maxReconnectAttempts: 3 });
    closers.push(() => client.close());
    let attempts = 0;
    client.on('connecting', () => attempts++);
    const closed = next<DisconnectInfo>((f) => client.on('closed', f));
    client.connect();
    const info = await closed;
    proxy.refusing = false;
    assert.equal(info.reason, 'max_attempts');
    assert.equal(attempts, 3);
  });

  test('every reconnect delay stays within min and max', async () => {
    proxy.refusing = true;
    const client = pulse(proxied, { minReconnectDelayMs: 40, maxReconnectDelayMs: 150 });
    closers.push(() => client.close());
    const delays: number[] = [];
    client.on('disconnected', (d) => delays.push(d.reconnectInMs ?? -1));
    client.connect();
    await until(() => delays.length >= 6, 'six failed attempts');
    await client.close();
    proxy.refusing = false;
    for (const d of delays) assert.ok(d >= 40 && d <= 150, `delay ${d}`);
  });
});

describe('browser online/offline events', () => {
  test('offline drops the connection and waits; online reconnects at once', async () => {
    const network = new EventTarget();
    const client = pulse(proxied, {
      minReconnectDelayMs: 5000,
      maxReconnectDelayMs: 10_000,
      networkEvents: network,
    });
    closers.push(() => client.close());
    client.connect();
    await until(() => client.state === 'connected', 'connected');
    const lost = next<DisconnectInfo & { reconnectInMs?: number }>((f) => client.on('disconnected', f));
    network.dispatchEvent(new Event('offline'));
    const info = await lost;
    assert.equal(info.reason, 'offline');
    assert.equal(info.reconnectInMs, undefined, 'waits for online');
    await sleep(200);
    assert.equal(client.state, 'disconnected');
    const started = Date.now();
    network.dispatchEvent(new Event('online'));
    await until(() => client.state === 'connected', 'the reconnect on online', 2000);
    assert.ok(Date.now() - started < 1000, 'well before the 5 s minimum delay');
  });

  test("a publish made right after the connection dropped, before lost is noticed, is queued ('queue') or refused at once ('fail')", async () => {
    const direct = pulse(h.wsUrl);
    closers.push(() => direct.close());
    const seen: string[] = [];
    const s = direct.subscribe('off/sync', (p) => seen.push(text(p)));
    direct.connect();
    await s.ready();
    const publishOnOffline = async (offline: 'queue' | 'fail') => {
      const network = new EventTarget();
      const client = pulse(proxied, { ...fast, offline, requestTimeoutMs: 3000, networkEvents: network });
      closers.push(() => client.close());
      client.connect();
      await until(() => client.state === 'connected', 'connected');
      // The page's own listener, added after the client's: it runs in the same dispatch, right
      // after the client dropped the connection and before it has noticed the close.
      let published: Promise<void> | undefined;
      network.addEventListener('offline', () => {
        published = client.publish('off/sync', `published on offline (${offline})`);
      });
      network.dispatchEvent(new Event('offline'));
      network.dispatchEvent(new Event('online'));
      return published as Promise<void>;
    };
    const started = performance.now();
    await assert.rejects(publishOnOffline('fail'), { name: 'PulseClientError', kind: 'offline' });
    assert.ok(performance.now() - started < 1000, 'refused at once, not after requestTimeoutMs');
    await publishOnOffline('queue');
    await until(() => seen.length === 1, 'the queued publish, sent after the reconnect', 2000);
    assert.deepEqual(seen, ['published on offline (queue)']);
  });
});
