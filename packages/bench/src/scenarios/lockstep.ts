import type { Qos } from '../generator/mqtt-packets.js';
import { ResourceWatch, type ServerProcess } from '../targets/server-process.js';
import { parsePubReport, parseSubReport, type PubReport, type SubReport, SyncClient } from './sync-client.js';

/** Where the synchronous clients of l1 and l2 connect, and what they run beside. */
export interface SyncContext {
  server: ServerProcess;
  host: string;
  port: number;
  /** CPUs the client processes are pinned to (the generator's), or null. */
  clientCpus: string | null;
  log: (line: string) => void;
}

export interface LockstepOptions {
  count: number;
  payloadSize: number;
  qosLevels: Qos[];
  /** Runs per QoS; the report takes the median rate. */
  reps: number;
}

/** What one timed run of the clients saw, beside the server's CPU over it. */
export interface SyncWindow {
  /** Wall time of the window: from `go` until both clients reported, in ms. */
  elapsedMs: number;
  serverCpuMicros: number;
  /** The clients' own CPU (from their start), in µs. */
  clientCpuMicros: number;
  /** CPU used by neither the server, the clients nor interrupts, in cores: other processes. */
  otherCpu: number;
}

export interface LockstepRun extends SyncWindow {
  qos: Qos;
  sub: SubReport;
  pub: PubReport;
}

export interface LockstepResult {
  count: number;
  payloadSize: number;
  runs: LockstepRun[];
}

/** Rate (first publish → last delivery), losses and server CPU per delivered message of a run. */
export function lockstepFigures(run: { sub: SubReport; pub: PubReport; serverCpuMicros: number }): {
  messagesPerSec: number;
  lost: number;
  cpuPerMessageMicros: number;
} {
  const { sub, pub } = run;
  const spanSec = (sub.lastNs - pub.firstNs) / 1e9;
  return {
    messagesPerSec: sub.received > 0 && spanSec > 0 ? sub.received / spanSec : 0,
    lost: pub.sent - sub.received,
    cpuPerMessageMicros: sub.received > 0 ? run.serverCpuMicros / sub.received : Number.NaN,
  };
}

/** Starts `sub`, then `pub` once it subscribed, and measures from `go` until both are done. */
export async function runSyncPair(
  ctx: SyncContext,
  subArgs: string[],
  pubRole: 'pub' | 'devices',
  pubArgs: string[],
): Promise<SyncWindow & { sub: SubReport; pub: PubReport }> {
  const common = ['--host', ctx.host, '--port', String(ctx.port)];
  const sub = new SyncClient('sub', [...common, ...subArgs], ctx.clientCpus);
  let pub: SyncClient | null = null;
  try {
    await sub.ready;
    pub = new SyncClient(pubRole, [...common, ...pubArgs], ctx.clientCpus);
    await pub.ready;
    const watch = new ResourceWatch(ctx.server);
    const startedAt = performance.now();
    pub.go();
    const [subLine, pubLine] = await Promise.all([sub.done, pub.done]);
    const use = watch.stop();
    const elapsedMs = performance.now() - startedAt;
    const subReport = parseSubReport(subLine);
    const pubReport = parsePubReport(pubLine);
    const clientCpuMicros = (subReport.cpuNs + pubReport.cpuNs) / 1000;
    const busy = use.coreBusy.reduce((a, b) => a + b, 0);
    return {
      elapsedMs,
      serverCpuMicros: use.cpuMicros,
      clientCpuMicros,
      otherCpu: Math.max(0, busy - use.irqShare - use.cpuShare - clientCpuMicros / (elapsedMs * 1000)),
      sub: subReport,
      pub: pubReport,
    };
  } finally {
    sub.kill();
    pub?.kill();
  }
}

/**
 * Scenario (l1)'s unmeasured warm-up on one server: a run per QoS (a fresh Node server spends its
 * first thousands of messages compiling; the first measured QoS 0 run cost Pulse 3-4x the CPU
 * per message of the next two).
 */
export async function warmLockstep(ctx: SyncContext, o: LockstepOptions): Promise<void> {
  for (const qos of o.qosLevels) {
    const shared = ['--topic', `bench/l1/warmup/${qos}`, '--qos', String(qos), '--count', String(o.count)];
    await runSyncPair(
      ctx,
      [...shared, '--client-id', `l1-warm-sub-${qos}`, '--idle-timeout-ms', '1500'],
      'pub',
      [...shared, ...['--client-id', `l1-warm-pub-${qos}`, '--payload', String(o.payloadSize)]],
    );
  }
}

/**
 * One timed run of scenario (l1), lock-step MQTT 5, 1 → 1: the publisher writes all `count`
 * PUBLISH packets back to back (QoS 1/2 with packet ids, never waiting for an acknowledgement
 * unless the broker's Receive Maximum forces it); the subscriber reads one packet at a time and
 * answers it before the next. Fresh connections and a fresh topic (numbered by `rep`).
 */
export async function runLockstepOnce(
  ctx: SyncContext,
  o: LockstepOptions,
  qos: Qos,
  rep: number,
): Promise<LockstepRun> {
  const topic = `bench/l1/qos${qos}/${rep}`;
  const shared = ['--topic', topic, '--qos', String(qos), '--count', String(o.count)];
  const w = await runSyncPair(
    ctx,
    [...shared, '--client-id', `l1-sub-${qos}-${rep}`, '--idle-timeout-ms', '1500'],
    'pub',
    [...shared, '--client-id', `l1-pub-${qos}-${rep}`, '--payload', String(o.payloadSize)],
  );
  const run: LockstepRun = { qos, ...w };
  const f = lockstepFigures(run);
  ctx.log(
    `QoS ${qos} #${rep + 1}: ${Math.round(f.messagesPerSec).toLocaleString('en-US')} msgs/s, ` +
      `${f.cpuPerMessageMicros.toFixed(1)} µs server CPU/msg, ${run.sub.received} of ${run.pub.sent} arrived` +
      (run.pub.error ? ` (publisher: ${run.pub.error})` : '') +
      (run.otherCpu >= 0.1 ? ` (other processes: ${Math.round(run.otherCpu * 100)} % CPU)` : ''),
  );
  return run;
}
