import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { DisconnectInfo, Publication } from '@pulse/client';
import { KillablePulse, TestProxy, next, proxiedPair, pulse, until } from './sdk-helpers.js';

const closers: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const close of closers.reverse()) await close();
});

test('a connection the network silently stops carrying (no FIN) is found dead by the heartbeat and replaced', async () => {
  const { proxy, client, direct } = await proxiedPair(
    { heartbeat: { interval_ms: 200, timeout_ms: 600 }, history: [{ pattern: 'hb', size: 100 }] } as never,
    { heartbeatGraceMs: 200, pingTimeoutMs: 300 },
    closers,
  );
  const seen: string[] = [];
  const s = client.subscribe('hb', (p: Publication) => seen.push(new TextDecoder().decode(p.payload)));
  const connected = next<{ heartbeatMs: number }>((f) => client.on('connected', f));
  client.connect();
  direct.connect();
  assert.equal((await connected).heartbeatMs, 200, 'the heartbeat announced in connected');
  await s.ready();
  // Idle through several server heartbeats: the answered pings keep the connection.
  await new Promise((r) => setTimeout(r, 1200));
  assert.equal(client.state, 'connected', 'an idle live connection is not dropped');
  const firstId = client.connectionId;

  const stalledAt = Date.now();
  const lost = next<DisconnectInfo>((f) => client.on('disconnected', f), 3000);
  proxy.stall();
  await direct.publish('hb', 'while stalled');
  const info = await lost;
  const detectedIn = Date.now() - stalledAt;
  assert.equal(info.reason, 'heartbeat_timeout');
  // At most heartbeat + grace + ping timeout (700 ms) and a check period late.
  assert.ok(detectedIn < 1500, `detected in ${detectedIn} ms`);
  assert.equal(proxy.ended.size, 0, 'the proxy closed nothing: the client saw no FIN');

  await until(() => client.state === 'connected', 'the reconnect');
  assert.notEqual(client.connectionId, firstId);
  await s.ready();
  await direct.publish('hb', 'after');
  await until(() => seen.length === 2, 'both publications');
  assert.deepEqual(seen, ['while stalled', 'after'], 'the one published while stalled is recovered');
});

test('a device clock set back an hour does not hold dead-connection detection off: the watch runs on a monotonic clock', async () => {
  // The server in its own process: only this process's wall clock is set back.
  const server = await KillablePulse.start('[heartbeat]\ninterval_ms = 200\ntimeout_ms = 10000\n');
  closers.push(() => server.stop());
  const proxy = await TestProxy.start(server.port);
  closers.push(() => proxy.close());
  const client = pulse(`ws://127.0.0.1:${proxy.port}/ws`, {
    heartbeatGraceMs: 200,
    pingTimeoutMs: 300,
    minReconnectDelayMs: 5000,
  });
  closers.push(() => client.close());
  client.connect();
  await until(() => client.state === 'connected', 'connected');
  const wallClock = Date.now;
  // The user (or NTP) sets the clock back an hour, then the network stops carrying the connection.
  Date.now = () => wallClock() - 3_600_000;
  try {
    const lost = next<DisconnectInfo>((f) => client.on('disconnected', f), 3000);
    proxy.stall();
    assert.equal((await lost).reason, 'heartbeat_timeout');
  } finally {
    Date.now = wallClock;
  }
});
