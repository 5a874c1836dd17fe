import { spawnSync } from 'node:child_process';
import type { ConnectResult, ConnSpec } from '../generator/protocol.js';
import { collectGarbage } from '../targets/gc-probe.js';
import { sleep } from '../targets/server-process.js';
import type { ScenarioContext } from './context.js';
import { shares } from './measure.js';

export interface IdleOptions {
  connections: number;
  /** How long to let the server settle after the burst before it reads RSS again. */
  settleMs: number;
  /**
   * Then RSS is read every 250 ms for this long and the highest reading counts: one
   * period of the clients' keep-alive (15 s), so wherever its traffic falls the figure is the
   * peak of a steady period, not a trough. 0 = one reading.
   */
  windowMs: number;
  /**
   * How long the fresh server idles before its first reading: V8's memory reducer shrinks a new
   * node process's heap about 8 s after start-up, so 15 s reads the idle steady state.
   */
  freshMs: number;
}

/** Targets that are node processes: the GC probe (SIGUSR1, then the inspector) applies to them. */
const NODE_TARGETS: ReadonlySet<string> = new Set(['pulse', 'naive-ws', 'socketio', 'aedes', 'mqtt-relay']);

export interface IdleResult {
  connections: number;
  connectMs: number;
  rssBeforeKiB: number;
  rssAfterKiB: number;
  /** (after − before) / connections. */
  kibPerConnection: number;
  /** Node targets: RSS and V8's used heap after a full collection, the connections still open. */
  afterGc?: { rssKiB: number; heapUsedKiB: number };
  generatorCpu: number;
}

/**
 * Scenario (c), and (c2) over MQTT: many idle WebSocket (MQTT) connections, each subscribed to a channel of its own; the
 * server's RSS before and after. Connections open in parallel lanes (`concurrency` handshakes in
 * flight per generator process) so the accept backlog is never overrun.
 */
export async function runIdle(ctx: ScenarioContext, o: IdleOptions): Promise<IdleResult> {
  const { pool } = ctx;
  // The server holds every connection, each generator process its share: both need the descriptors.
  const limit = openFileLimit();
  if (limit !== null && limit < o.connections + 256) {
    throw new Error(
      `ulimit -n is ${limit}; ${o.connections} connections need more: run \`ulimit -n ${o.connections + 1024}\` first`,
    );
  }
  await sleep(o.freshMs);
  const rssBeforeKiB = ctx.server.rssKiB();
  const cpu = process.cpuUsage();
  await pool.mark();
  const started = performance.now();
  let first = 0;
  const opened = await Promise.all(
    shares(o.connections, pool.size).map((n, w) => {
      const from = first;
      first += n;
      return pool.request<ConnectResult>(w, {
        op: 'connect',
        host: ctx.host,
        port: ctx.port,
        target: ctx.target,
        concurrency: ctx.concurrency,
        conns: Array.from(
          { length: n },
          (_, i): ConnSpec => ({
            role: 'subscriber',
            channel: ctx.protocol === 'mqtt' ? `idle/${from + i}` : `idle.${from + i}`,
          }),
        ),
        protocol: ctx.protocol,
      });
    }),
  );
  const connectMs = performance.now() - started;
  const reports = await pool.reports();
  const own = process.cpuUsage(cpu);
  const failed = opened.reduce((n, r) => n + r.failed, 0);
  if (failed > 0)
    throw new Error(`${failed} connections failed: ${opened.find((r) => r.failed)?.firstError}`);
  ctx.log(`${o.connections} idle connections ready in ${connectMs.toFixed(0)} ms`);
  await sleep(o.settleMs);
  const rssAfterKiB = await peakRss(ctx, o.windowMs);
  let afterGc: IdleResult['afterGc'];
  if (NODE_TARGETS.has(ctx.target)) {
    const { heapUsedKiB } = await collectGarbage(ctx.server.pid);
    afterGc = { rssKiB: ctx.server.rssKiB(), heapUsedKiB };
  }
  const totals = await pool.totals();
  await pool.all({ op: 'closeAll' });
  if (totals.closed > 0) throw new Error(`the server closed ${totals.closed} idle connections`);
  const generatorMicros = reports.reduce((n, r) => n + r.cpuMicros, own.user + own.system);
  return {
    connections: o.connections,
    connectMs,
    rssBeforeKiB,
    rssAfterKiB,
    kibPerConnection: (rssAfterKiB - rssBeforeKiB) / o.connections,
    afterGc,
    generatorCpu: generatorMicros / (connectMs * 1000),
  };
}

const SAMPLE_EVERY_MS = 250;

/** The server's highest RSS over `windowMs` (one reading when 0). */
async function peakRss(ctx: ScenarioContext, windowMs: number): Promise<number> {
  let peak = ctx.server.rssKiB();
  for (let waited = 0; waited < windowMs; waited += SAMPLE_EVERY_MS) {
    await sleep(SAMPLE_EVERY_MS);
    peak = Math.max(peak, ctx.server.rssKiB());
  }
  return peak;
}

/** The soft limit on open files that child processes inherit, or null when unknown. */
function openFileLimit(): number | null {
  const out = spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout?.trim();
  const n = Number(out);
  return out === 'unlimited' ? Number.POSITIVE_INFINITY : Number.isFinite(n) && n > 0 ? n : null;
}
