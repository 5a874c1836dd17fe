// examples/web-client's chat page in Chromium, served by its own serve.mjs, against real
// servers: (a) a `pulse` process on a SQLite file SIGKILLed and started again on the same file
// and port: the page reconnects and its subscription recovers, no gap, no duplicate; (b) behind
// a proxy that refuses WebSocket upgrades: the page falls back to HTTP streaming, and
// subscribe, publish, presence and recovery work over it; presence is shown in the page.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Pulse, Publication } from '@pulse/client';
import { type Browser, type Page, chromium } from 'playwright-core';
import { startServer } from './helpers.js';
import { KillablePulse, TestProxy, pulse, until } from './sdk-helpers.js';
import { UpgradeRefusingProxy } from './upgrade-refusing-proxy.js';

const CHROMIUM = '/usr/bin/chromium';
const skip =
  !existsSync(CHROMIUM) && !process.env.CI ? 'chromium is not installed (apt-get install chromium)' : false;
const serveScript = fileURLToPath(new URL('../../../../examples/web-client/serve.mjs', import.meta.url));
const HISTORY = '[[history]]\npattern = "chat/#"\nsize = 1000\n';
// Reconnect within 100-400 ms, so that the test waits for recovery rather than for the backoff.
const FAST = 'minReconnectDelayMs=100&maxReconnectDelayMs=400';

const closers: (() => Promise<unknown> | unknown)[] = [];
let browser: Browser;
let pageUrl: string;

before(async () => {
  if (skip) return;
  const serve: ChildProcess = spawn(process.execPath, [serveScript, '--port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  closers.push(() => serve.kill());
  const [line] = (await once(serve.stdout ?? serve, 'data')) as [Buffer];
  pageUrl = /http:\S+/.exec(line.toString())?.[0] ?? assert.fail(`serve.mjs said: ${line}`);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-features=LocalNetworkAccessChecks'],
  });
  closers.push(() => browser.close());
});
after(async () => {
  for (const close of closers.reverse()) await close();
});

/** What chat.js keeps on window.chat. */
interface Chat {
  pulse: Pulse;
  received: [number, string][];
  subscribed: { recovered: boolean; wasRecovering: boolean }[];
  transports: string[];
}
type ChatWindow = { chat: Chat };

async function openChat(server: string, name: string): Promise<Page> {
  const page = await browser.newPage();
  closers.push(() => page.close());
  page.on('pageerror', (err) => console.error('page error:', err));
  await page.goto(`${pageUrl}?server=${encodeURIComponent(server)}&name=${name}&${FAST}`);
  await page.waitForFunction(() => (window as unknown as ChatWindow).chat?.subscribed.length === 1);
  return page;
}

const received = (page: Page) => page.evaluate(() => (window as unknown as ChatWindow).chat.received);
const chatState = (page: Page) =>
  page.evaluate(() => {
    const { chat } = window as unknown as ChatWindow;
    return { state: chat.pulse.state, subscribed: chat.subscribed, transports: chat.transports };
  });
const membersShown = (page: Page) => page.$$eval('#members li', (lis) => lis.map((li) => li.textContent));
const waitReceived = (page: Page, n: number) =>
  page.waitForFunction((n) => (window as unknown as ChatWindow).chat.received.length >= n, n, {
    timeout: 10_000,
  });
const expected = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => [from + i + 1, `n${from + i}`]);

/** A Node client publishing `n<i>` chat messages, each acked, queued while disconnected. */
function publisher(url: string) {
  const client = pulse(url, { minReconnectDelayMs: 50, maxReconnectDelayMs: 200, offline: 'queue' });
  closers.push(() => client.close());
  client.connect();
  let n = 0;
  return {
    client,
    async upTo(end: number) {
      const acks: Promise<void>[] = [];
      for (; n < end; n++)
        acks.push(client.publish('chat/lobby', JSON.stringify({ name: 'node', text: `n${n}` })));
      await Promise.all(acks);
    },
  };
}

test(
  'a SIGKILLed and restarted server (same SQLite file and port): the page recovers, no gap, no duplicate',
  { skip },
  async () => {
    const server = await KillablePulse.start(HISTORY);
    closers.push(() => server.stop());
    // The page reaches the server through a proxy that keeps it away until the publisher is done,
    // so that what it missed during and after the outage can only come by recovery.
    const proxy = await TestProxy.start(server.port);
    closers.push(() => proxy.close());
    const pub = publisher(server.wsUrl);
    await pub.client.presence.join('chat/lobby', { name: 'node' });
    const page = await openChat(`ws://127.0.0.1:${proxy.port}/ws`, 'ann');
    assert.deepEqual((await chatState(page)).transports, ['websocket']);
    await page.waitForFunction(() => document.querySelectorAll('#members li').length === 2);
    assert.deepEqual(await membersShown(page), ['ann (you)', 'node'], 'presence in the page');

    await pub.upTo(30);
    await waitReceived(page, 30);
    proxy.refusing = true;
    await server.kill();
    await page.waitForFunction(() => (window as unknown as ChatWindow).chat.pulse.state !== 'connected');
    const during = pub.upTo(45); // queued by the publisher until the server is back
    await server.start();
    await during;
    await pub.upTo(60);
    assert.equal((await received(page)).length, 30, 'the page is still away');
    proxy.refusing = false;
    await page.waitForFunction(() => (window as unknown as ChatWindow).chat.subscribed.length === 2, null, {
      timeout: 10_000,
    });
    await pub.upTo(70);
    await waitReceived(page, 70);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(await received(page), expected(0, 70), 'every publication once, in order');
    const state = await chatState(page);
    assert.deepEqual(state.subscribed, [
      { recovered: false, wasRecovering: false },
      { recovered: true, wasRecovering: true },
    ]);
    assert.deepEqual(state.transports, ['websocket', 'websocket']);
    // Both sides joined presence again on their new connections.
    await page.waitForFunction(() => document.querySelectorAll('#members li').length === 2);
    assert.deepEqual(await membersShown(page), ['ann (you)', 'node']);
    const members = Object.values(await pub.client.presence.sync('chat/lobby'));
    assert.deepEqual(members.map((m) => m.name).sort(), ['ann', 'node']);
    assert.equal(await page.locator('#messages li[data-offset]').count(), 70, 'the page shows each once');
  },
);

test(
  'WebSocket upgrades refused by a proxy: the page falls back to HTTP streaming; subscribe, publish, presence and recovery work',
  { skip },
  async () => {
    const h = await startServer({
      history: [{ pattern: 'chat/#', size: 1000 }],
      transport: { http_stream_origins: ['*'] },
    } as never);
    closers.push(() => h.stop());
    const proxy = await UpgradeRefusingProxy.start(Number(new URL(h.httpUrl).port));
    closers.push(() => proxy.close());
    const pub = publisher(h.wsUrl);
    const inbox: string[] = [];
    pub.client.subscribe('chat/lobby', (p: Publication) => inbox.push(new TextDecoder().decode(p.payload)));
    await pub.client.presence.join('chat/lobby', { name: 'node' });

    const page = await openChat(`ws://127.0.0.1:${proxy.port}/ws`, 'cy');
    const first = await chatState(page);
    assert.equal(first.state, 'connected');
    assert.deepEqual(first.transports, ['http'], 'connected over HTTP streaming');
    assert.ok(proxy.upgradesRefused >= 1, 'the WebSocket was tried and refused');

    // Presence: the page sees the Node member and the Node client sees the page's.
    await page.waitForFunction(() => document.querySelectorAll('#members li').length === 2);
    assert.deepEqual(await membersShown(page), ['cy (you)', 'node']);
    const members = Object.values(await pub.client.presence.sync('chat/lobby'));
    assert.deepEqual(members.map((m) => m.name).sort(), ['cy', 'node']);

    // Publish from the page (its form) and to it.
    await page.fill('#text', 'hello over http');
    await page.click('#send button');
    await until(() => inbox.some((t) => t.includes('hello over http')), 'the page publication in Node');
    assert.deepEqual(JSON.parse(inbox.find((t) => t.includes('hello over http')) ?? ''), {
      name: 'cy',
      text: 'hello over http',
    });
    await pub.upTo(20);
    await waitReceived(page, 21);

    // Recovery over HTTP: the proxy drops the page's stream and keeps it away meanwhile.
    proxy.refusing = true;
    proxy.cut();
    await page.waitForFunction(() => (window as unknown as ChatWindow).chat.pulse.state !== 'connected');
    await pub.upTo(35);
    proxy.refusing = false;
    await page.waitForFunction(() => (window as unknown as ChatWindow).chat.subscribed.length === 2, null, {
      timeout: 10_000,
    });
    await pub.upTo(40);
    await waitReceived(page, 41);
    await new Promise((r) => setTimeout(r, 200));
    const got = await received(page);
    assert.deepEqual(got[0], [1, 'hello over http']);
    assert.deepEqual(
      got.slice(1),
      expected(0, 40).map(([o, t]) => [Number(o) + 1, t]),
      'every publication once, in order',
    );
    const state = await chatState(page);
    assert.deepEqual(state.subscribed.at(-1), { recovered: true, wasRecovering: true });
    assert.deepEqual(state.transports, ['http', 'http']);
    await page.waitForFunction(() => document.querySelectorAll('#members li').length === 2);
    assert.deepEqual(await membersShown(page), ['cy (you)', 'node'], 'presence restored over HTTP');
  },
);
