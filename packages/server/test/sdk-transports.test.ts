import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, type Socket, createServer } from 'node:net';
import { after, test } from 'node:test';
import {
  type Publication,
  type Pulse,
  type TransportFactory,
  openHttpStream,
  webSocketTransport,
} from '@pulse/client';
import WebSocket from 'ws';
import { SECRET } from './auth-helpers.js';
import { sleep, startServer } from './helpers.js';
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

/** A server that accepts connections and never answers: a frozen server, or a proxy that swallows upgrades. */
async function blackHole(): Promise<{ port: number; held: Set<Socket> }> {
  const held = new Set<Socket>();
  const hole = createServer((socket) => {
    held.add(socket);
    socket.resume(); // read (and drop) what comes, so that the client's close is seen
    socket.on('close', () => held.delete(socket));
    socket.on('error', () => {});
  });
  hole.listen(0, '127.0.0.1');
  await once(hole, 'listening');
  closers.push(async () => {
    for (const socket of held) socket.destroy();
    hole.close();
  });
  return { port: (hole.address() as AddressInfo).port, held };
}

const quick = { connectTimeoutMs: 150, minReconnectDelayMs: 20, maxReconnectDelayMs: 40 };

/** Counts the client's attempts that timed out. */
function timedOutAttempts(client: Pulse): { count: number } {
  const timeouts = { count: 0 };
  client.on('disconnected', (d) => {
    if (d.reason === 'connect_timeout') timeouts.count++;
  });
  return timeouts;
}

test('a WebSocket opening given up (connectTimeoutMs, then close()) lets go of its socket: none pile up', async () => {
  const { port, held } = await blackHole();
  const client = pulse(`ws://127.0.0.1:${port}/ws`, quick);
  closers.push(() => client.close());
  const timeouts = timedOutAttempts(client);
  client.connect();
  await until(() => timeouts.count >= 6, 'six attempts timed out');
  await sleep(50);
  // Only what the attempt under way is opening, not one socket per attempt ever made.
  assert.ok(held.size <= 1, `${held.size} sockets still held after ${timeouts.count} timed-out attempts`);
  await client.close();
  await until(() => held.size === 0, 'close() to let go of the opening under way', 1000);
});

test('an HTTP streaming opening given up is aborted: its requests are let go, not left for the server to end', async () => {
  const { port, held } = await blackHole();
  const client = pulse(`ws://127.0.0.1:${port}/ws`, {
    ...quick,
    transports: [(_url, signal) => openHttpStream(`http://127.0.0.1:${port}`, { signal })],
  });
  closers.push(() => client.close());
  const timeouts = timedOutAttempts(client);
  client.connect();
  await until(() => timeouts.count >= 3, 'three attempts timed out');
  await client.close();
  // fetch lets an aborted request's socket go within a few seconds (not after its own 300 s).
  await until(() => held.size === 0, 'every aborted GET to let go of its socket', 10_000);
});

test('a POST the network stalls is aborted when the HTTP streaming transport ends, not left to fetch', async () => {
  const h = await startServer({ heartbeat: { interval_ms: 200, timeout_ms: 10_000 } });
  closers.push(() => h.stop());
  const proxy = await TestProxy.start(Number(new URL(h.httpUrl).port));
  closers.push(() => proxy.close());
  const client = pulse(h.wsUrl, {
    transports: [(_url, signal) => openHttpStream(`http://127.0.0.1:${proxy.port}`, { signal })],
    heartbeatGraceMs: 200,
    pingTimeoutMs: 300,
    minReconnectDelayMs: 5000,
  });
  closers.push(() => client.close());
  client.connect();
  await until(() => client.state === 'connected', 'connected over HTTP streaming');
  // A POST answered and its socket back in fetch's pool: the next POST goes on it, into the stall.
  await client.publish('stall', 'warm');
  await sleep(100);
  proxy.stall();
  const stalled = client.publish('stall', 'into the void');
  const lost = next<{ reason: string }>((f) => client.on('disconnected', f), 3000);
  await assert.rejects(stalled, { kind: 'disconnected' });
  assert.equal((await lost).reason, 'heartbeat_timeout');
  // fetch itself would hold the POST (and its socket) for minutes waiting for an answer.
  await until(() => proxy.waitingInStall === 0, 'the stalled POST to be aborted with its transport', 2000);
});

test('connectTimeoutMs bounds the opening and `connected` together: a slow opening leaves less for connected', async () => {
  // Auth on and no token: the server opens the socket and says nothing until its deadline.
  const h = await startServer({
    auth: { enabled: true, jwt_hmac_secret: SECRET },
    limits: { handshake_timeout_ms: 10_000 },
  });
  closers.push(() => h.stop());
  const ws = webSocketTransport(WebSocket as never);
  // A network that takes 700 ms to open the connection (a slow proxy, a far server).
  const slow: TransportFactory = async (url, signal) => {
    await sleep(700);
    return ws(url, signal);
  };
  const client = pulse(h.wsUrl, { transports: [slow], connectTimeoutMs: 1000, minReconnectDelayMs: 10_000 });
  closers.push(() => client.close());
  const started = next<{ attempt: number }>((f) => client.on('connecting', f)).then(() => performance.now());
  const failed = next<{ reason: string }>((f) => client.on('disconnected', f), 4000);
  client.connect();
  const info = await failed;
  const took = performance.now() - (await started);
  assert.equal(info.reason, 'connect_timeout');
  // 1,000 ms for both, not 700 ms of opening and then 1,000 more for `connected`.
  assert.ok(took < 1400, `the attempt was given up after ${Math.round(took)} ms`);
  assert.ok(took >= 950, `given up after ${Math.round(took)} ms, before connectTimeoutMs`);
});
