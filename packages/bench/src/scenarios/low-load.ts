import type { GeneratorPool } from '../generator/pool.js';
import type { ConnectResult } from '../generator/protocol.js';
import { type ServerProcess, sleep } from '../targets/server-process.js';
import type { DeliveryCheck } from './fanout.js';
import { drain, type Measurement, measureQuiet } from './measure.js';

export interface LowLoadOptions {
  /** Publications per second, open loop. */
  rate: number;
  payloadSize: number;
  warmupMs: number;
  measureMs: number;
  /**
   * Unmeasured, before the warm-up: publications at ten times `rate` for this long, so that a
   * server on a JIT (Pulse) is measured with its hot path compiled, as it runs in production;
   * at 1,000 msgs/s alone V8 still compiles it seconds later (it cost Pulse 165 µs of CPU per
   * message in the window instead of 90).
   */
  jitWarmupMs: number;
}

export interface LowLoadRun {
  protocol: 'mqtt' | 'ws';
  rate: number;
  result: Measurement;
  check: DeliveryCheck;
  /**
   * With several rounds (--low-load-reps): each round's p50 and p99, in round order; `result`
   * and `check` are then the round of median p50. Absent from single-round records.
   */
  rounds?: { p50Micros: number; p99Micros: number }[];
}

/**
 * Scenario (l3): latency at low load. One publisher → one subscriber on one channel (MQTT: QoS 0,
 * 3.1.1), open loop at `rate` per second, both in generator process 0, which reads as soon as
 * anything arrives; every publication's write → read latency is recorded.
 */
export async function runLowLoad(
  pool: GeneratorPool,
  server: ServerProcess,
  target: { name: string; protocol: 'mqtt' | 'ws'; host: string; port: number },
  o: LowLoadOptions,
  log: (line: string) => void,
): Promise<LowLoadRun> {
  const channel = 'bench/l3';
  const opened = await pool.request<ConnectResult>(0, {
    op: 'connect',
    host: target.host,
    port: target.port,
    target: target.name,
    protocol: target.protocol,
    concurrency: 1,
    conns: [
      { key: 'sub', role: 'subscriber', channel, sample: 'latency' },
      { key: 'pub', role: 'publisher', channel },
    ],
  });
  if (opened.failed > 0) throw new Error(`connection failed: ${opened.firstError}`);
  await pool.request(0, { op: 'nap', ms: 0 });
  const loop = (rate: number) =>
    pool.request(0, {
      op: 'startLoops',
      loops: [{ publisher: 'pub', lead: null, payloadSize: o.payloadSize, pacing: { kind: 'rate', rate } }],
    });
  try {
    if (o.jitWarmupMs > 0) {
      await loop(o.rate * 10);
      await sleep(o.jitWarmupMs);
      await pool.request(0, { op: 'stopLoops' });
      await drain(pool);
    }
  } catch (err) {
    await pool.all({ op: 'closeAll' }).catch(() => {});
    throw err;
  }
  const before = await pool.totals();
  await loop(o.rate);
  try {
    await sleep(o.warmupMs);
    // One window only: the section must stay short; a disturbed window is flagged in the report.
    const result = await measureQuiet(pool, server, o.measureMs, log, 1);
    await pool.request(0, { op: 'stopLoops' });
    const after = await drain(pool);
    const check = { expected: after.sent - before.sent, received: after.delivered - before.delivered };
    log(
      `${Math.round(result.deliveriesPerSec).toLocaleString('en-US')} msgs/s, p50 ${Math.round(result.p50Micros)} µs, ` +
        `p99 ${Math.round(result.p99Micros)} µs (${result.latencySamples} samples)`,
    );
    return { protocol: target.protocol, rate: o.rate, result, check };
  } finally {
    await pool.request(0, { op: 'stopLoops' }).catch(() => {});
    await pool.all({ op: 'closeAll' }).catch(() => {});
  }
}
