/**
 * The lock-step section (l1-l3): messages that travel alone. Pulse runs with its shipped defaults.
 * l1's targets run side by side, their runs in turn (lockstep-l1.ts); l2's each get a fresh server;
 * l3's a fresh server per round. l1 and l2 drive synchronous python3 clients, l3 the generator pool.
 */
import type { BenchOptions } from './args.js';
import type { TargetName } from './dialects/index.js';
import type { GeneratorPool } from './generator/pool.js';
import type { BenchResults, LockstepResults, Outcome } from './results.js';
import { runL1 } from './lockstep-l1.js';
import { type LowLoadRun, runLowLoad } from './scenarios/low-load.js';
import { runManyDevices } from './scenarios/many-devices.js';
import { syncClientsUnavailable } from './scenarios/sync-client.js';
import {
  L1_TARGETS,
  L2_TARGETS,
  L3_RUNS,
  type L3Run,
  LOCKSTEP_LABELS,
  type SectionTarget,
} from './lockstep-targets.js';
import { launchDefaults, type Protocol, type RunningTarget, unavailable } from './targets/launch.js';
import { failureWith } from './targets/server-process.js';

export interface SectionPlacement {
  server: string | null;
  generator: string | null;
}

async function withServer<T>(
  target: SectionTarget,
  protocol: Protocol,
  tag: string,
  o: BenchOptions,
  workDir: string,
  place: SectionPlacement,
  log: (line: string) => void,
  body: (running: RunningTarget) => Promise<T>,
): Promise<Outcome<T>> {
  try {
    const missing = unavailable(target as TargetName);
    if (missing) throw new Error(missing);
    const running = await launchDefaults(target, protocol, {
      host: o.host,
      workDir,
      tag,
      natsProcs: o.natsProcs,
      cpus: place.server,
    });
    log(`server pid ${running.server.pid} on port ${running.port}`);
    try {
      return { ok: true, value: await body(running) };
    } catch (err) {
      if (!running.server.alive) throw new Error(failureWith(err, running.server));
      throw err;
    } finally {
      await running.server.stop();
    }
  } catch (err) {
    const error = (err as Error).message;
    log(`failed: ${error}`);
    return { ok: false, error };
  }
}

/**
 * Several rounds of one l3 run as one: the round of median p50 (the lower of the two middle
 * ones for an even count), with every round's p50 and p99. Failed rounds are left out; with
 * none that succeeded, the first failure stands.
 */
function medianRound(rounds: Outcome<LowLoadRun>[]): Outcome<LowLoadRun> {
  const done = rounds.flatMap((r) => (r.ok ? [r.value] : []));
  if (done.length === 0) return rounds[0] ?? { ok: false, error: 'no round ran' };
  const byP50 = [...done].sort((a, b) => a.result.p50Micros - b.result.p50Micros);
  const median = byP50[Math.floor((byP50.length - 1) / 2)] as LowLoadRun;
  const figures = done.map((r) => ({ p50Micros: r.result.p50Micros, p99Micros: r.result.p99Micros }));
  return { ok: true, value: { ...median, rounds: figures } };
}

/** Runs the selected lock-step scenarios on their targets (those of `--targets`), into `results.lockstep`. */
export async function runLockstepSection(
  results: BenchResults,
  o: BenchOptions,
  pool: GeneratorPool,
  workDir: string,
  place: SectionPlacement,
  log: (line: string) => void,
): Promise<void> {
  const wanted = (t: TargetName) => o.targets.includes(t);
  const out: LockstepResults = {};
  const python = syncClientsUnavailable();
  const sync = (running: RunningTarget, what: string) => ({
    server: running.server,
    host: o.host,
    port: running.port,
    clientCpus: place.generator,
    log: (line: string) => log(`${what}: ${line}`),
  });
  if (o.scenarios.includes('l1')) {
    const targets = L1_TARGETS.filter(wanted);
    const opts = {
      count: o.lockstepCount,
      payloadSize: o.mqttPayloadSize,
      qosLevels: o.mqttQos,
      reps: o.lockstepReps,
    };
    out.l1 = python
      ? Object.fromEntries(targets.map((t) => [t, { ok: false, error: python }]))
      : await runL1(targets, o, opts, workDir, place, log);
  }
  if (o.scenarios.includes('l2')) {
    out.l2 = {};
    for (const target of L2_TARGETS.filter(wanted)) {
      const what = `${LOCKSTEP_LABELS[target]} (l2)`;
      out.l2[target] = python
        ? { ok: false, error: python }
        : await withServer(
            target,
            'mqtt',
            `${target}-l2`,
            o,
            workDir,
            place,
            (l) => log(`${what}: ${l}`),
            (r) =>
              runManyDevices(sync(r, what), {
                clients: o.devices,
                intervalMs: 100,
                rounds: o.devicesRounds,
                warmupRounds: o.devicesWarmupRounds,
                payloadSize: o.mqttPayloadSize,
              }),
          );
    }
  }
  if (o.scenarios.includes('l3')) {
    // Rounds of every target in turn rather than all rounds of one target, so that a noisy
    // stretch of the machine's time falls on every target of a round alike; each round starts
    // one target further on, so that none is always the first after the generator's clients
    // of the other protocol (or the first of the section).
    const rounds: Partial<Record<L3Run, Outcome<LowLoadRun>[]>> = {};
    for (let round = 1; round <= o.lowLoadReps; round++) {
      const shift = (round - 1) % L3_RUNS.length;
      for (const run of [...L3_RUNS.slice(shift), ...L3_RUNS.slice(0, shift)]) {
        const protocol = run.startsWith('mqtt') ? 'mqtt' : 'ws';
        const target = run.slice(protocol.length + 1) as SectionTarget;
        if (!wanted(target)) continue;
        const what = `${LOCKSTEP_LABELS[run]} (l3${o.lowLoadReps > 1 ? ` #${round}` : ''})`;
        const say = (l: string) => log(`${what}: ${l}`);
        const outcome = await withServer(
          target,
          protocol,
          `${run}-l3-${round}`,
          o,
          workDir,
          place,
          say,
          (r) =>
            runLowLoad(
              pool,
              r.server,
              { name: target, protocol, host: o.host, port: r.port },
              {
                rate: o.lowLoadRate,
                payloadSize: o.mqttPayloadSize,
                warmupMs: o.warmupMs,
                measureMs: o.measureMs,
                jitWarmupMs: o.quick ? 0 : 3000,
              },
              say,
            ),
        );
        rounds[run] = [...(rounds[run] ?? []), outcome];
      }
    }
    out.l3 = {};
    for (const run of L3_RUNS) {
      const all = rounds[run];
      if (all) out.l3[run] = medianRound(all);
    }
  }
  results.lockstep = out;
}
