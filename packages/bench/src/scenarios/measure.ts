import type { GeneratorPool } from '../generator/pool.js';
import type { Totals } from '../generator/protocol.js';
import { percentile, sortedCopy } from '../percentiles.js';
import { ResourceWatch, type ServerProcess, sleep } from '../targets/server-process.js';

/** What one timed window saw. */
export interface Measurement {
  deliveriesPerSec: number;
  publishesPerSec: number;
  /** Latency percentiles in microseconds (NaN without samples). */
  p50Micros: number;
  p99Micros: number;
  latencySamples: number;
  /** The last subscriber's latency (fan-out only; NaN elsewhere). */
  lastP50Micros: number;
  lastP99Micros: number;
  /** CPU of all generator processes (and the coordinator), in cores (1 = one core busy). */
  generatorCpu: number;
  /** The kernel part of generatorCpu (receiving on 1,000 sockets is mostly syscalls). */
  generatorSystemCpu: number;
  /** CPU of the busiest generator process, in cores (a process cannot use more than one). */
  generatorBusiestCpu: number;
  serverCpu: number;
  /** CPU of each of the other watched processes (`companions`), in cores, in their order. */
  companionCpu?: number[];
  /** How busy each core was (user, system, softirq: everything), 1 = 100 %. */
  coreBusy: number[];
  /**
   * CPU used by neither the server, the generator nor interrupts, in cores: other processes on the
   * machine. Above ~0.1 the window was disturbed.
   */
  otherCpu: number;
  serverPeakRssKiB: number;
  /** Connections the server closed during the window. */
  closed: number;
  /** Times a closed loop found its window lost. */
  stalls: number;
}

/** Other processes using this much CPU (in cores) during a window disturb it. */
export const DISTURBED_CPU = 0.1;

/**
 * `measure`, repeated (up to `attempts` times) while other processes on the machine disturb the
 * window; returns the least disturbed one.
 */
export async function measureQuiet(
  pool: GeneratorPool,
  server: ServerProcess,
  ms: number,
  log: (line: string) => void,
  attempts = 3,
  companions: readonly ServerProcess[] = [],
): Promise<Measurement> {
  let best: Measurement | null = null;
  for (let i = 0; i < attempts; i++) {
    const m = await measure(pool, server, ms, companions);
    if (best === null || m.otherCpu < best.otherCpu) best = m;
    if (m.otherCpu < DISTURBED_CPU) break;
    log(
      `other processes used ${Math.round(m.otherCpu * 100)} % CPU during the window${i + 1 < attempts ? '; measuring again' : ''}`,
    );
  }
  return best!;
}

/**
 * Runs for `ms` and sums what every generator process saw over that window. The CPU of
 * `companions` (more servers of the same run: cluster nodes, an engine server) is watched too,
 * and not counted as other processes'.
 */
export async function measure(
  pool: GeneratorPool,
  server: ServerProcess,
  ms: number,
  companions: readonly ServerProcess[] = [],
): Promise<Measurement> {
  await pool.mark();
  const coordinatorCpu = process.cpuUsage();
  const startedAt = performance.now();
  const watch = new ResourceWatch(server);
  const companionWatches = companions.map((c) => new ResourceWatch(c));
  await sleep(ms);
  const reports = await pool.reports();
  const resources = watch.stop();
  const companionCpu = companionWatches.map((w) => w.stop().cpuShare);
  const wallMicros = (performance.now() - startedAt) * 1000;
  const own = process.cpuUsage(coordinatorCpu);
  let deliveriesPerSec = 0;
  let publishesPerSec = 0;
  let generatorMicros = own.user + own.system;
  let generatorSystemMicros = own.system;
  let closed = 0;
  let stalls = 0;
  let busiest = 0;
  const samples: number[] = [];
  const lastSamples: number[] = [];
  for (const r of reports) {
    deliveriesPerSec += r.delivered / (r.elapsedMs / 1000);
    publishesPerSec += r.sent / (r.elapsedMs / 1000);
    generatorMicros += r.cpuMicros;
    generatorSystemMicros += r.cpuSystemMicros;
    busiest = Math.max(busiest, r.cpuMicros / (r.elapsedMs * 1000));
    closed += r.closed;
    stalls += r.stalls;
    for (const s of r.samples) samples.push(s);
    for (const s of r.lastSamples) lastSamples.push(s);
  }
  const sorted = sortedCopy(samples);
  const lastSorted = sortedCopy(lastSamples);
  return {
    deliveriesPerSec,
    publishesPerSec,
    p50Micros: percentile(sorted, 50),
    p99Micros: percentile(sorted, 99),
    latencySamples: sorted.length,
    lastP50Micros: percentile(lastSorted, 50),
    lastP99Micros: percentile(lastSorted, 99),
    generatorCpu: generatorMicros / wallMicros,
    generatorSystemCpu: generatorSystemMicros / wallMicros,
    generatorBusiestCpu: busiest,
    serverCpu: resources.cpuShare,
    ...(companions.length > 0 ? { companionCpu } : {}),
    coreBusy: resources.coreBusy,
    otherCpu: Math.max(
      0,
      resources.coreBusy.reduce((a, b) => a + b, 0) -
        resources.irqShare -
        resources.cpuShare -
        companionCpu.reduce((a, b) => a + b, 0) -
        generatorMicros / wallMicros,
    ),
    serverPeakRssKiB: resources.peakRssKiB,
    closed,
    stalls,
  };
}

/**
 * Waits until deliveries stop arriving (or `maxMs` passes) and returns the totals then. With
 * `done`, waits until `done` holds instead (a slow broker may pause longer than a quiet spell).
 */
export async function drain(
  pool: GeneratorPool,
  maxMs = 5000,
  done?: (totals: Totals) => boolean,
): Promise<Totals> {
  const deadline = performance.now() + maxMs;
  let last = await pool.totals();
  let quiet = 0;
  while (performance.now() < deadline && (done ? !done(last) : quiet < 3)) {
    await sleep(100);
    const now = await pool.totals();
    quiet = now.delivered === last.delivered ? quiet + 1 : 0;
    last = now;
  }
  return last;
}

/** Splits `n` items over `parts` as evenly as possible. */
export function shares(n: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(n / parts) + (i < n % parts ? 1 : 0));
}
