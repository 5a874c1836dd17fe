import { Rng } from '@pulse/protocol/test/prng';

export { Rng };

/** The seed of this run: PULSE_FUZZ_SEED to replay one, else a fresh one (printed on failure). */
export const FUZZ_SEED = process.env.PULSE_FUZZ_SEED
  ? Number(process.env.PULSE_FUZZ_SEED) >>> 0
  : (Date.now() ^ (process.pid << 16)) >>> 0;

/** Seconds of fuzzing per listener: PULSE_FUZZ_SECONDS, else 4 (the whole directory stays near a minute). */
export const FUZZ_SECONDS = Number(process.env.PULSE_FUZZ_SECONDS ?? 4);

/** How to run this test again with the same inputs. */
export const replayHint = (file: string) =>
  `replay: PULSE_FUZZ_SEED=${FUZZ_SEED} node scripts/test.mjs ${file}`;

/** An independent generator per worker, all from the run's seed. */
export const workerRng = (name: string, worker: number) => {
  let h = FUZZ_SEED ^ (worker * 0x9e3779b1);
  for (const c of name) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193);
  return new Rng(h >>> 0);
};

/**
 * PULSE_FUZZ_ONLY (a regular expression) narrows a run to the inputs whose description matches
 * (connections still open and authenticate), and to the extra attackers whose name matches:
 * to find which input a failure needs.
 */
export const FUZZ_ONLY = process.env.PULSE_FUZZ_ONLY ? new RegExp(process.env.PULSE_FUZZ_ONLY) : undefined;
