import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { type Publication, openHttpStream, webSocketTransport } from '@pulse/client';
import WebSocket from 'ws';
import { startServer } from './helpers.js';
import { TestProxy, next, pulse, until } from './sdk-helpers.js';

const closers: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const close of closers.reverse()) await close();
});

test('transports are tried in order on every attempt: WebSocket refused, the next factory carries the client', async () => {
  const h = await startServer({
    transport: { http_stream: true },
    history: [{ pattern: 'tr', size: 10 }],
  } as never);
  closers.push(() => h.stop());
  // WebSocket goes through a proxy that refuses every connection (a network blocking it).
  const proxy = await TestProxy.start(Number(new URL(h.httpUrl).port));
  proxy.refusing = true;
  closers.push(() => proxy.close());
  const client = pulse(`ws://127.0.0.1:${proxy.port}/ws`, {
    transports: [webSocketTransport(WebSocket as never), () => openHttpStream(h.httpUrl)],
  });
  const direct = pulse(h.wsUrl);
  closers.push(
    () => client.close(),
    () => direct.close(),
  );
  const connected = next<{ transport: number }>((f) => client.on('connected', f));
  const seen: string[] = [];
  const sub = client.subscribe('tr', (p: Publication) => seen.push(new TextDecoder().decode(p.payload)));
  client.connect();
  direct.connect();
  assert.equal((await connected).transport, 1, 'the second factory opened');
  await sub.ready();
  await direct.publish('tr', 'over http');
  await until(() => seen.length === 1, 'the publication over HTTP streaming');
  assert.deepEqual(seen, ['over http']);
});
