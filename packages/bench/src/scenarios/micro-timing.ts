/** Something the optimiser cannot prove unused. */
export let blackhole: unknown;

/** Runs `op` for `warmupMs`, then times it for at least `measureMs`; returns ns per call. */
export function timeOp(op: () => unknown, warmupMs: number, measureMs: number): number {
  const run = (iterations: number): bigint => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) blackhole = op();
    return process.hrtime.bigint() - start;
  };
  let batch = 1;
  const warmupEnd = performance.now() + warmupMs;
  while (performance.now() < warmupEnd) {
    if (run(batch) < 5_000_000n) batch *= 2;
  }
  let ns = 0n;
  let iterations = 0;
  while (ns < BigInt(measureMs) * 1_000_000n) {
    ns += run(batch);
    iterations += batch;
  }
  return Number(ns) / iterations;
}
