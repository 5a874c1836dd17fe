import { percentile, sortedCopy } from '../percentiles.js';
import { runSyncPair, type SyncContext, type SyncWindow } from './lockstep.js';

export interface ManyDevicesOptions {
  clients: number;
  intervalMs: number;
  rounds: number;
  /** Rounds of an unmeasured run first, on connections of its own (0 = none). */
  warmupRounds: number;
  payloadSize: number;
}

export interface ManyDevicesResult extends SyncWindow {
  clients: number;
  intervalMs: number;
  rounds: number;
  sent: number;
  acked: number;
  refused: number;
  received: number;
  duplicates: number;
  deliveriesPerSec: number;
  cpuPerMessageMicros: number;
  p50Micros: number;
  p99Micros: number;
  maxMicros: number;
  /** How late the devices process fell behind its schedule at worst, in µs. */
  publisherMaxLagUs: number;
  error: string | null;
}

/**
 * Scenario (l2): `clients` MQTT 5 devices (one synchronous process, one connection each), each
 * publishing one QoS 1 message every `intervalMs` to its own topic `bench/l2/dev/N`, spread evenly
 * over the interval; one synchronous subscriber on `#` at QoS 1 that acknowledges each delivery
 * before reading the next. Latency is write → read, on the shared monotonic clock.
 */
export async function runManyDevices(ctx: SyncContext, o: ManyDevicesOptions): Promise<ManyDevicesResult> {
  // Unmeasured, as l1's and l3's warm-ups: a fresh Node server's first seconds of this load run
  // before its hot paths are compiled (a cold Pulse's p99 was 3-15 ms, its CPU per message a
  // third higher), and a server in production runs warm.
  if (o.warmupRounds > 0) {
    await devicesRun(ctx, o, o.warmupRounds, 'l2-warm').catch((err: Error) => {
      throw new Error(`the unmeasured warm-up run: ${err.message}`, { cause: err });
    });
  }
  const w = await devicesRun(ctx, o, o.rounds, 'l2');
  const sorted = sortedCopy(w.sub.samples);
  const spanSec = (w.sub.lastNs - w.pub.firstNs) / 1e9;
  const result: ManyDevicesResult = {
    elapsedMs: w.elapsedMs,
    serverCpuMicros: w.serverCpuMicros,
    clientCpuMicros: w.clientCpuMicros,
    otherCpu: w.otherCpu,
    clients: o.clients,
    intervalMs: o.intervalMs,
    rounds: o.rounds,
    sent: w.pub.sent,
    acked: w.pub.acked,
    refused: w.pub.refused,
    received: w.sub.received,
    duplicates: w.sub.duplicates,
    deliveriesPerSec: w.sub.received > 0 && spanSec > 0 ? w.sub.received / spanSec : 0,
    cpuPerMessageMicros: w.sub.received > 0 ? w.serverCpuMicros / w.sub.received : Number.NaN,
    p50Micros: percentile(sorted, 50),
    p99Micros: percentile(sorted, 99),
    maxMicros: sorted.length > 0 ? sorted[sorted.length - 1]! : Number.NaN,
    publisherMaxLagUs: w.pub.maxLagUs ?? Number.NaN,
    error: w.pub.error,
  };
  ctx.log(
    `${Math.round(result.deliveriesPerSec).toLocaleString('en-US')} deliveries/s, ` +
      `${result.cpuPerMessageMicros.toFixed(1)} µs server CPU/msg, p50 ${result.p50Micros} µs, ` +
      `p99 ${result.p99Micros} µs, ${result.received} of ${result.sent} arrived, publisher lag ≤ ` +
      `${(result.publisherMaxLagUs / 1000).toFixed(1)} ms`,
  );
  return result;
}

/** One run of the devices and the `#` subscriber, client ids prefixed with `tag`. */
function devicesRun(ctx: SyncContext, o: ManyDevicesOptions, rounds: number, tag: string) {
  const total = o.clients * rounds;
  return runSyncPair(
    ctx,
    ['--topic', '#', '--qos', '1', '--count', String(total), '--client-id', `${tag}-sub`, '--samples'],
    'devices',
    [
      ...['--topic', 'bench/l2/dev', '--qos', '1', '--client-id', `${tag}-dev`],
      ...['--clients', String(o.clients), '--interval-ms', String(o.intervalMs)],
      ...['--rounds', String(rounds), '--payload', String(o.payloadSize)],
    ],
  );
}
