// examples/web-client/raw-frames.html in Chromium: a client with no SDK, speaking the seed
// engine's wire format (length-prefixed MessagePack frames over WebSocket, its own small
// MessagePack codec), subscribes, publishes, joins presence and pings against Pulse.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Publication } from '@pulse/client';
import { type Browser, type Page, chromium } from 'playwright-core';
import { type Harness, Inbox, startServer, wsClient } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const skip =
  !existsSync(CHROMIUM) && !process.env.CI ? 'chromium is not installed (apt-get install chromium)' : false;
const serveScript = fileURLToPath(new URL('../../../../examples/web-client/serve.mjs', import.meta.url));

const closers: (() => Promise<unknown> | unknown)[] = [];
let h: Harness;
let page: Page;
after(async () => {
  for (const close of closers.reverse()) await close();
});

type Frame = Record<string, unknown>;
type RawWindow = { raw: { frames: Frame[]; send(frame: Frame): void } };

before(async () => {
  if (skip) return;
  h = await startServer();
  closers.push(() => h.stop());
  const serve: ChildProcess = spawn(process.execPath, [serveScript, '--port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  closers.push(() => serve.kill());
  const [line] = (await once(serve.stdout ?? serve, 'data')) as [Buffer];
  const pageUrl = /http:\S+/.exec(line.toString())?.[0] ?? assert.fail(`serve.mjs said: ${line}`);
  const browser: Browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-features=LocalNetworkAccessChecks'],
  });
  closers.push(() => browser.close());
  page = await browser.newPage();
  page.on('pageerror', (err) => console.error('page error:', err));
  await page.goto(`${pageUrl}raw-frames.html?server=${encodeURIComponent(h.wsUrl)}&channel=seed/room`);
});

const frames = () => page.evaluate(() => (window as unknown as RawWindow).raw.frames);
const waitFrame = (match: Frame) =>
  page.waitForFunction(
    (m) =>
      (window as unknown as RawWindow).raw?.frames.some((f) =>
        Object.entries(m).every(([k, v]) => JSON.stringify(f[k]) === JSON.stringify(v)),
      ),
    match,
    { timeout: 5000 },
  );

test('the raw-frame page is connected, subscribed and present', { skip }, async () => {
  await waitFrame({ type: 'ack', id: 2 });
  const [connected, ...rest] = await frames();
  assert.equal(connected?.type, 'connected');
  assert.equal(connected?.version, 1);
  assert.deepEqual(
    rest.filter((f) => f.type === 'ack').map((f) => f.id),
    [1, 2],
    'subscribe and presence join acked',
  );
  const node = await wsClient(h);
  closers.push(() => node.close());
  const members = await node.presence.sync('seed/room');
  assert.deepEqual(members, { [String(connected?.connection_id)]: { name: 'raw' } });
});

test('publications reach the raw page as bytes and its publications reach the SDK', { skip }, async () => {
  const node = await wsClient(h);
  closers.push(() => node.close());
  const inbox = new Inbox<Publication>();
  await node.subscribe('seed/room', inbox.push);
  await node.publish('seed/room', new Uint8Array([0, 1, 2, 200, 255]));
  await waitFrame({ type: 'publish', channel: 'seed/room' });
  const got = (await frames()).filter((f) => f.type === 'publish');
  assert.equal(got.length, 1);
  assert.deepEqual(Object.values(got[0]?.payload as object), [0, 1, 2, 200, 255], 'bin arrives as bytes');

  await page.evaluate(() => {
    const { raw } = window as unknown as RawWindow;
    raw.send({ type: 'publish', id: 3, channel: 'seed/room', payload: new TextEncoder().encode('from raw') });
    raw.send({ type: 'ping', timestamp: 1234 });
  });
  await waitFrame({ type: 'ack', id: 3 });
  await waitFrame({ type: 'pong', timestamp: 1234 });
  const [, fromRaw] = await inbox.waitFor(2);
  assert.equal(Buffer.from(fromRaw?.payload ?? []).toString(), 'from raw');
});

test('a bad frame from the raw page gets error 1001 and the connection stays', { skip }, async () => {
  await page.evaluate(() => (window as unknown as RawWindow).raw.send({ type: 'no-such-type', id: 9 }));
  await waitFrame({ type: 'error', code: 1001 });
  await page.evaluate(() => (window as unknown as RawWindow).raw.send({ type: 'ping', timestamp: 99 }));
  await waitFrame({ type: 'pong', timestamp: 99 });
});
