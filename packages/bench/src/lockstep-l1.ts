/**
 * Scenario (l1) on all its targets at once: every server is up for the whole scenario (each on
 * CPU 0, idle when not driven), and the runs go round the targets (QoS, then rep, then target),
 * so that a slow stretch of the machine's time falls on every target alike instead of on
 * whichever target's runs it happened to meet. A target that fails is stopped at once, and the
 * others go on; every server is stopped whatever happens.
 */
import type { BenchOptions } from './args.js';
import type { TargetName } from './dialects/index.js';
import { LOCKSTEP_LABELS, type L1Target } from './lockstep-targets.js';
import type { Outcome } from './results.js';
import {
  type LockstepOptions,
  type LockstepResult,
  type LockstepRun,
  runLockstepOnce,
  type SyncContext,
  warmLockstep,
} from './scenarios/lockstep.js';
import { type LaunchOptions, launchDefaults, type RunningTarget, unavailable } from './targets/launch.js';
import { failureWith } from './targets/server-process.js';

interface Lane {
  target: L1Target;
  running: RunningTarget;
  ctx: SyncContext;
  runs: LockstepRun[];
  error?: string;
  stopped?: boolean;
}

/**
 * Stops the lane's server, once, and never throws: a stop that fails (a stored target that left
 * its data directory empty) fails that lane only, as it failed the target when each had its turn
 * alone, instead of taking every target's results with it.
 */
async function stopLane(lane: Lane): Promise<void> {
  if (lane.stopped) return;
  lane.stopped = true;
  try {
    await lane.running.server.stop();
  } catch (err) {
    const message = (err as Error).message;
    lane.error = lane.error === undefined ? message : `${lane.error}; then ${message}`;
    lane.ctx.log(`failed: ${message}`);
  }
}

/** What runL1 does with a target: start its server, warm it, time one run. */
export interface L1Steps {
  launch(target: L1Target, o: LaunchOptions): Promise<RunningTarget>;
  warm(ctx: SyncContext, o: LockstepOptions): Promise<void>;
  once: typeof runLockstepOnce;
}

const L1_STEPS: L1Steps = {
  async launch(target, o) {
    const missing = unavailable(target as TargetName);
    if (missing) throw new Error(missing);
    return launchDefaults(target, 'mqtt', o);
  },
  warm: warmLockstep,
  once: runLockstepOnce,
};

export async function runL1(
  targets: readonly L1Target[],
  o: BenchOptions,
  opts: LockstepOptions,
  workDir: string,
  placement: { server: string | null; generator: string | null },
  log: (line: string) => void,
  steps: L1Steps = L1_STEPS,
): Promise<Partial<Record<L1Target, Outcome<LockstepResult>>>> {
  const out: Partial<Record<L1Target, Outcome<LockstepResult>>> = {};
  const lanes: Lane[] = [];
  try {
    for (const target of targets) {
      const say = (line: string) => log(`${LOCKSTEP_LABELS[target]} (l1): ${line}`);
      try {
        const running = await steps.launch(target, {
          host: o.host,
          workDir,
          tag: `${target}-l1`,
          natsProcs: o.natsProcs,
          cpus: placement.server,
        });
        say(`server pid ${running.server.pid} on port ${running.port}`);
        const ctx: SyncContext = {
          server: running.server,
          host: o.host,
          port: running.port,
          clientCpus: placement.generator,
          log: say,
        };
        lanes.push({ target, running, ctx, runs: [] });
      } catch (err) {
        say(`failed: ${(err as Error).message}`);
        out[target] = { ok: false, error: (err as Error).message };
      }
    }
    const step = async (lane: Lane, body: () => Promise<void>): Promise<void> => {
      if (lane.error !== undefined) return;
      try {
        await body();
      } catch (err) {
        lane.error = failureWith(err, lane.running.server);
        lane.ctx.log(`failed: ${lane.error}`);
        // Now, not at the end: a server that failed may still be busy, on the CPU the other
        // targets' runs are measured on.
        await stopLane(lane);
      }
    };
    for (const lane of lanes) await step(lane, () => steps.warm(lane.ctx, opts));
    for (const qos of opts.qosLevels) {
      for (let rep = 0; rep < opts.reps; rep++) {
        for (const lane of lanes) {
          await step(lane, async () => {
            lane.runs.push(await steps.once(lane.ctx, opts, qos, rep));
          });
        }
      }
    }
  } finally {
    await Promise.all(lanes.map(stopLane));
  }
  for (const lane of lanes) {
    out[lane.target] =
      lane.error !== undefined
        ? { ok: false, error: lane.error }
        : { ok: true, value: { count: opts.count, payloadSize: opts.payloadSize, runs: lane.runs } };
  }
  return out;
}
