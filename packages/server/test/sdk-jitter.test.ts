import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { Pulse } from '@pulse/client';
import { KillablePulse, pulse, until } from './sdk-helpers.js';

const CLIENTS = 1000;
const BUCKET_MS = 100;

let server: KillablePulse | undefined;
after(() => server?.stop());

/** The most connections in any `BUCKET_MS` window, and how long the reconnections took. */
function peak(times: number[]): { peak: number; spreadMs: number } {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  let start = 0;
  for (let end = 0; end < sorted.length; end++) {
    while ((sorted[end] as number) - (sorted[start] as number) >= BUCKET_MS) start++;
    best = Math.max(best, end - start + 1);
  }
  return { peak: best, spreadMs: (sorted.at(-1) ?? 0) - (sorted[0] ?? 0) };
}

/** Connects CLIENTS clients, SIGKILLs the server, starts it again; the reconnection times. */
async function restartWith(options: { jitter: boolean; minReconnectDelayMs?: number }): Promise<{
  peak: number;
  spreadMs: number;
}> {
  const s = server as KillablePulse;
  const clients: Pulse[] = [];
  const reconnected: number[] = [];
  let killed = false;
  for (let i = 0; i < CLIENTS; i++) {
    const c = pulse(s.wsUrl, options);
    c.on('connected', () => {
      if (killed) reconnected.push(Date.now());
    });
    clients.push(c);
    c.connect();
  }
  try {
    await until(() => clients.every((c) => c.state === 'connected'), 'every client connected', 15_000);
    killed = true;
    await s.kill();
    await s.start();
    await until(() => reconnected.length === CLIENTS, `every client back (${reconnected.length})`, 15_000);
    return peak(reconnected);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}

test(`${CLIENTS} clients reconnecting after a SIGKILL restart are spread out by the jitter`, async () => {
  server = await KillablePulse.start('');
  const without = await restartWith({ jitter: false });
  const defaults = await restartWith({ jitter: true });
  const wider = await restartWith({ jitter: true, minReconnectDelayMs: 2000 });
  const line = (name: string, r: { peak: number; spreadMs: number }) =>
    `${name}: peak ${r.peak} per ${BUCKET_MS} ms, all back within ${r.spreadMs} ms`;
  console.log(
    [
      `${CLIENTS} clients reconnecting after a SIGKILL restart`,
      line('no jitter (500 ms)', without),
      line('jitter, default delays (500..20000 ms)', defaults),
      line('jitter, minReconnectDelayMs 2000', wider),
    ].join('\n  '),
  );
  // Without jitter every client tries at the same instant: the server's accept rate is the bound.
  assert.ok(defaults.peak < CLIENTS * 0.6, `default jitter peak ${defaults.peak}`);
  assert.ok(wider.peak < CLIENTS / 4, `wider jitter peak ${wider.peak}`);
  assert.ok(wider.peak * 2 < without.peak, `jitter ${wider.peak} vs none ${without.peak}`);
  assert.ok(wider.spreadMs > 1000, `spread over ${wider.spreadMs} ms`);
});
