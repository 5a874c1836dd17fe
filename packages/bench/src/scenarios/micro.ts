import {
  decodeFrame,
  encodeFrame,
  FrameError,
  LENGTH_PREFIX_BYTES,
  type PublishFrame,
} from '@pulse/protocol';

export interface CodecTiming {
  nsPerOp: number;
  /** Frame bytes (length prefix included) per second, in MiB. */
  mibPerSec: number;
}

export interface MicroRow {
  payloadSize: number;
  frameBytes: number;
  encode: CodecTiming;
  decode: CodecTiming;
}

export interface MicroOptions {
  sizes: number[];
  warmupMs: number;
  measureMs: number;
}

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

/** Codec micro-benchmarks: encode and decode of a native publish frame. */
export function runMicro(o: MicroOptions): MicroRow[] {
  return o.sizes.map((payloadSize) => {
    const frame: PublishFrame = {
      type: 'publish',
      channel: 'bench.micro',
      payload: Buffer.alloc(payloadSize, 0x61),
    };
    const encoded = encodeFrame(frame);
    const body = encoded.subarray(LENGTH_PREFIX_BYTES);
    const check = decodeFrame(body);
    if (check instanceof FrameError || check.type !== 'publish' || check.payload.length !== payloadSize) {
      throw new Error('decodeFrame does not round-trip encodeFrame');
    }
    const timing = (ns: number): CodecTiming => ({
      nsPerOp: ns,
      mibPerSec: (encoded.length / ns) * (1e9 / 1048576),
    });
    return {
      payloadSize,
      frameBytes: encoded.length,
      encode: timing(timeOp(() => encodeFrame(frame), o.warmupMs, o.measureMs)),
      decode: timing(timeOp(() => decodeFrame(body), o.warmupMs, o.measureMs)),
    };
  });
}
