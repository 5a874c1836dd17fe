import type { ConnectResult, ConnSpec, LoopSpec } from '../generator/protocol.js';
import { sleep } from '../targets/server-process.js';
import type { ScenarioContext } from './context.js';
import type { DeliveryCheck } from './fanout.js';
import { drain, type Measurement, measureQuiet } from './measure.js';

export interface PairsOptions {
  pairs: number;
  payloadSize: number;
  /** Publications in flight per pair. */
  window: number;
  /** Pairs whose subscriber records latency (in process 0, which reads promptly). */
  samplers: number;
  /** Sleep between event-loop turns of the other processes (0 = read per wake-up). */
  napMs: number;
}

export interface PairsResult {
  pairs: number;
  connectMs: number;
  result: Measurement;
  check: DeliveryCheck;
}

/**
 * Scenario (b): independent publisher → subscriber pairs, each on its own channel. Both ends of a
 * pair live in the same generator process, so each pair runs its own closed loop.
 */
export async function runPairs(ctx: ScenarioContext, o: PairsOptions): Promise<PairsResult> {
  const { pool } = ctx;
  const perWorker: { conns: ConnSpec[]; loops: LoopSpec[] }[] = Array.from({ length: pool.size }, () => ({
    conns: [],
    loops: [],
  }));
  // Sampled pairs go to process 0; the rest are dealt out over the napping processes (all of them
  // when there is only one).
  const napping = pool.size > 1 ? pool.size - 1 : 1;
  for (let i = 0; i < o.pairs; i++) {
    // One entry per worker, and the index is 0 or 1 + (k % (size - 1)), below size.
    const w = perWorker[i < o.samplers || pool.size === 1 ? 0 : 1 + ((i - o.samplers) % napping)]!;
    const channel = `bench.pair.${i}`;
    w.conns.push({
      key: `s${i}`,
      role: 'subscriber',
      channel,
      sample: i < o.samplers ? 'latency' : undefined,
    });
    w.conns.push({ key: `p${i}`, role: 'publisher', channel });
    w.loops.push({
      publisher: `p${i}`,
      lead: `s${i}`,
      payloadSize: o.payloadSize,
      pacing: { kind: 'window', window: o.window },
    });
  }
  const started = performance.now();
  const opened = await Promise.all(
    perWorker.map((w, i) =>
      pool.request<ConnectResult>(i, {
        op: 'connect',
        host: ctx.host,
        port: ctx.port,
        target: ctx.target,
        concurrency: ctx.concurrency,
        conns: w.conns,
      }),
    ),
  );
  const connectMs = performance.now() - started;
  const failed = opened.reduce((n, r) => n + r.failed, 0);
  if (failed > 0)
    throw new Error(`${failed} connections failed: ${opened.find((r) => r.failed)?.firstError}`);
  ctx.log(`${o.pairs} pairs ready in ${connectMs.toFixed(0)} ms`);

  if (o.napMs > 0 && pool.size > 1) {
    await Promise.all(perWorker.slice(1).map((_, i) => pool.request(i + 1, { op: 'nap', ms: o.napMs })));
  }
  const before = await pool.totals();
  await Promise.all(perWorker.map((w, i) => pool.request(i, { op: 'startLoops', loops: w.loops })));
  await sleep(ctx.warmupMs);
  const result = await measureQuiet(pool, ctx.server, ctx.measureMs, ctx.log);
  await pool.all({ op: 'stopLoops' });
  const after = await drain(pool);
  await pool.all({ op: 'closeAll' });
  return {
    pairs: o.pairs,
    connectMs,
    result,
    check: { expected: after.sent - before.sent, received: after.delivered - before.delivered },
  };
}
