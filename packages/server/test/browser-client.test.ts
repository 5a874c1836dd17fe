import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';
import type { Publication } from '@pulse/client';
import { build } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import { type Harness, Inbox, startServer, wsClient } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
// In CI the browser is installed by .ci/run, so its absence is a failure there, not a skip.
const skip =
  !haveChromium && !process.env.CI ? 'chromium is not installed (apt-get install chromium)' : false;

let h: Harness;
let browser: Browser;
let page: Awaited<ReturnType<Browser['newPage']>>;
let pageServer: ReturnType<typeof createServer>;

before(async () => {
  if (skip) return;
  h = await startServer();
  const entry = createRequire(import.meta.url).resolve('@pulse/client');
  const bundle = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    write: false,
  });
  const js = at(bundle.outputFiles, 0).text;
  pageServer = createServer((req, res) => {
    if (req.url === '/client.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      return res.end(js);
    }
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(
      '<!doctype html><title>pulse</title><script type="module">import * as P from "/client.js"; window.Pulse = P;</script>',
    );
  });
  await new Promise<void>((r) => pageServer.listen(0, '127.0.0.1', r));
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-features=LocalNetworkAccessChecks'],
  });
  page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${(pageServer.address() as AddressInfo).port}/`);
  await page.waitForFunction(() => 'Pulse' in window);
});

after(async () => {
  if (skip) return;
  await browser?.close();
  pageServer?.close();
  await h?.stop();
});

/** What the page keeps on `window` between evaluations. */
interface PageGlobals {
  Pulse: typeof import('@pulse/client');
  client: import('@pulse/client').PulseClient;
  received: [string, number[]][];
}

test('the client runs in a browser and shares channels with Node clients', { skip }, async () => {
  const node = await wsClient(h);
  const nodeInbox = new Inbox<Publication>();
  await node.subscribe('browser/from-page', nodeInbox.push);
  const connectionId = await page.evaluate(async (url) => {
    const w = window as unknown as PageGlobals;
    const client = await w.Pulse.PulseClient.connect(url);
    w.received = [];
    await client.subscribe('browser/+', (p) => w.received.push([p.channel, Array.from(p.payload)]));
    await client.presence.join('browser/room', { agent: 'chromium' });
    w.client = client;
    return client.connectionId;
  }, h.wsUrl);
  assert.match(connectionId, /^[0-9a-f]+$/);
  assert.deepEqual(await node.presence.sync('browser/room'), { [connectionId]: { agent: 'chromium' } });

  await node.publish('browser/from-node', Buffer.from([0, 1, 2, 250, 255]));
  await page.waitForFunction(() => (window as unknown as PageGlobals).received.length >= 1);
  const received = await page.evaluate(() => (window as unknown as PageGlobals).received);
  assert.deepEqual(received, [['browser/from-node', [0, 1, 2, 250, 255]]]);

  await page.evaluate(() =>
    (window as unknown as PageGlobals).client.publish('browser/from-page', 'hello from chromium'),
  );
  const [fromPage] = await nodeInbox.waitFor(1);
  assert.ok(fromPage !== undefined);
  assert.equal(Buffer.from(fromPage.payload).toString(), 'hello from chromium');
  const rtt = await page.evaluate(() => (window as unknown as PageGlobals).client.ping());
  assert.ok(rtt >= 0);
  await node.close();
});
