import { percentile, sortedCopy } from '../percentiles.js';
import { runSyncPair, type SyncContext, type SyncWindow } from './lockstep.js';

export interface ManyDevicesOptions {
  clients: number;
  intervalMs: number;
  rounds: number;
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
  const total = o.clients * o.rounds;
  const w = await runSyncPair(
    ctx,
    ['--topic', '#', '--qos', '1', '--count', String(total), '--client-id', 'l2-sub', '--samples'],
    'devices',
    [
      ...['--topic', 'bench/l2/dev', '--qos', '1', '--client-id', 'l2-dev'],
      ...['--clients', String(o.clients), '--interval-ms', String(o.intervalMs)],
      ...['--rounds', String(o.rounds), '--payload', String(o.payloadSize)],
    ],
  );
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
