import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer as createNetServer } from 'node:net';
import { test } from 'node:test';
import { pino } from 'pino';
import { defaultConfig } from '../src/config/index.js';
import { PulseServer } from '../src/server.js';
import type { Publication } from '@pulse/client';
import {
  Inbox,
  RawTcp,
  RawWs,
  metricValue,
  scrape,
  sleep,
  startServer,
  tcpClient,
  wsClient,
} from './helpers.js';

test('heartbeat: a silent client is pinged, then closed after the timeout; an active one stays', async () => {
  const h = await startServer({ heartbeat: { interval_ms: 100, timeout_ms: 300 } });
  try {
    const silent = await RawWs.open(h.wsUrl);
    const chatty = await RawTcp.open(h.tcpPort);
    const keepAlive = setInterval(() => chatty.send({ type: 'pong' }), 50);
    const ping = await silent.frame(1);
    assert.equal(ping.type, 'ping');
    const bye = (await silent.frame(2)) as { type: string; code: number; message: string };
    assert.equal(bye.type, 'error');
    assert.equal(bye.code, 1010);
    assert.match(bye.message, /heartbeat/);
    assert.equal(await silent.closed, 1001);
    clearInterval(keepAlive);
    assert.equal(h.server.connectionCount, 1, 'the client that kept talking is still connected');
    assert.ok(!chatty.frames.items.some((f) => f.type === 'error'));
    chatty.socket.destroy();
  } finally {
    await h.stop();
  }
});

test('max_connections: one connection too many gets 1006 and is closed', async () => {
  const h = await startServer({ limits: { max_connections: 2 } });
  try {
    const a = await wsClient(h);
    const b = await tcpClient(h);
    const third = await RawWs.open(h.wsUrl);
    const refusal = third.frames.items[0] as { type: string; code: number };
    assert.equal(refusal.type, 'error');
    assert.equal(refusal.code, 1006);
    assert.equal(await third.closed, 1013);
    const metrics = await scrape(h);
    assert.equal(metricValue(metrics, 'pulse_connections_rejected_total{reason="max_connections"}'), 1);
    await a.close();
    await b.close();
  } finally {
    await h.stop();
  }
});

async function stalledSubscriber(port: number, channel: string): Promise<RawTcp> {
  const raw = await RawTcp.open(port);
  raw.send({ type: 'subscribe', id: 1, channel });
  await raw.frames.waitFor(2);
  raw.socket.pause(); // stop reading: the kernel buffers fill, then the server's queue
  return raw;
}

test('slow consumer, policy drop: memory stays bounded, others lose nothing', async () => {
  const budget = 256 * 1024;
  const h = await startServer({ limits: { max_outbound_bytes: budget, slow_consumer_policy: 'drop' } });
  try {
    const stalled = await stalledSubscriber(h.tcpPort, 'flood');
    const healthy = await wsClient(h);
    const inbox = new Inbox<Publication>();
    await healthy.subscribe('flood', inbox.push);
    const publisher = await tcpClient(h);
    const payload = Buffer.alloc(8 * 1024, 1);
    const total = 2000; // 16 MiB in all, far over the budget plus the socket buffers
    let maxHeld = 0;
    for (let i = 0; i < total; i++) {
      await publisher.publish('flood', payload);
      maxHeld = Math.max(maxHeld, h.server.outboundBytes());
    }
    await inbox.waitFor(total, 20000);
    const metrics = await scrape(h);
    const dropped = metricValue(metrics, 'pulse_dropped_total{transport="tcp"}');
    assert.ok(dropped > 0, 'the stalled reader had messages dropped');
    assert.equal(inbox.items.length, total, 'the healthy subscriber got every message');
    // What the server holds for all connections never exceeds the stalled one's budget by
    // more than one message plus the others' in-flight bytes.
    assert.ok(maxHeld <= budget + 4 * payload.length, `server held ${maxHeld} bytes`);
    assert.ok(h.server.connectionCount === 3, 'policy drop keeps the slow connection open');
    stalled.socket.destroy();
    await healthy.close();
    await publisher.close();
  } finally {
    await h.stop();
  }
});

test('slow consumer, policy disconnect: the stalled reader is closed, others unaffected', async () => {
  // The stalled reader first pauses the publisher (limits.max_publisher_pause_ms), then is
  // closed. 32 MiB in all: more than the loopback socket buffers can take while it pauses
  // (with 4 MiB the kernel's buffers sometimes took everything, and it was never closed).
  const h = await startServer({
    limits: {
      max_outbound_bytes: 64 * 1024,
      slow_consumer_policy: 'disconnect',
      max_publisher_pause_ms: 300,
    },
  });
  try {
    const stalled = await stalledSubscriber(h.tcpPort, 'flood');
    const healthy = await tcpClient(h);
    const inbox = new Inbox<Publication>();
    await healthy.subscribe('flood', inbox.push);
    const publisher = await wsClient(h);
    const payload = Buffer.alloc(4 * 1024, 2);
    const total = 8000;
    for (let i = 0; i < total; i++) await publisher.publish('flood', payload);
    await inbox.waitFor(total, 30000);
    stalled.socket.resume();
    const closed = await Promise.race([stalled.closed.then(() => true), sleep(10_000).then(() => false)]);
    assert.ok(closed, 'the stalled reader was closed by the server');
    const metrics = await scrape(h);
    assert.equal(metricValue(metrics, 'pulse_slow_consumer_disconnects_total{transport="tcp"}'), 1);
    await healthy.close();
    await publisher.close();
  } finally {
    await h.stop();
  }
});

test('graceful stop: clients get error 1010 and close 1001; /health says draining meanwhile', async () => {
  const h = await startServer({ server: { shutdown_drain_timeout_ms: 500 } });
  const raw = await RawWs.open(h.wsUrl);
  const tcp = await RawTcp.open(h.tcpPort);
  const health = await fetch(`${h.httpUrl}/health`);
  assert.deepEqual(await health.json(), { status: 'ok', version: '0.1.0' });
  // A client that never closes its side keeps the drain waiting until the timeout.
  const lingering = connect({ host: '127.0.0.1', port: h.tcpPort, allowHalfOpen: true });
  await once(lingering, 'data');
  const started = Date.now();
  const stopping = h.stop();
  await sleep(50);
  const draining = await fetch(`${h.httpUrl}/health`);
  assert.equal(draining.status, 503);
  assert.equal(((await draining.json()) as { status: string }).status, 'draining');
  await stopping;
  assert.ok(Date.now() - started >= 450, 'the drain waited for the lingering client');
  lingering.destroy();
  const bye = (await raw.frame(1)) as { type: string; code: number };
  assert.equal(bye.code, 1010);
  assert.equal(await raw.closed, 1001);
  const tcpBye = (await tcp.frames.waitFor(2))[1] as { code: number };
  assert.equal(tcpBye.code, 1010);
  await tcp.closed;
});

test('a listener that cannot listen fails start() and closes the listeners already open', async () => {
  const blocker = createNetServer().listen(0, '127.0.0.1');
  await once(blocker, 'listening');
  const config = defaultConfig();
  config.server.port = 0;
  config.transport.tcp_port = (blocker.address() as { port: number }).port;
  config.metrics.port = 0;
  config.mqtt.port = 0;
  const server = new PulseServer(config, { logger: pino({ level: 'silent' }) });
  await assert.rejects(server.start(), { code: 'EADDRINUSE' });
  blocker.close();
  // The HTTP listener had started before the TCP one failed; nothing may be left listening.
  const probe = (server as unknown as { listeners: { http?: { listening: boolean } } }).listeners.http;
  assert.equal(probe?.listening, false);
});
