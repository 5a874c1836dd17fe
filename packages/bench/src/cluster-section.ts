/** The cluster section of a run: x1 and x2 on each setup, a fresh set of servers for each run. */
import type { BenchOptions } from './args.js';
import type { GeneratorPool } from './generator/pool.js';
import type { BenchResults, ClusterResults } from './results.js';
import type { ClusterContext, ClusterRun } from './scenarios/cluster-context.js';
import { runClusterFanout } from './scenarios/cluster-fanout.js';
import { runClusterLockstep } from './scenarios/cluster-lockstep.js';
import {
  CLUSTER_SETUP_LABELS,
  type ClusterSetupName,
  clusterUnavailable,
  launchClusterSetup,
} from './targets/cluster-launch.js';

type ClusterScenario = 'x1' | 'x2';

async function runOne(
  scenario: ClusterScenario,
  name: ClusterSetupName,
  o: BenchOptions,
  pool: GeneratorPool,
  workDir: string,
  cpus: string | null,
  log: (line: string) => void,
): Promise<ClusterRun> {
  const missing = clusterUnavailable(name);
  if (missing) throw new Error(missing);
  const what = `${CLUSTER_SETUP_LABELS[name]} (${scenario})`;
  const setup = await launchClusterSetup(name, {
    host: o.host,
    workDir,
    tag: `${name}-${scenario}`,
    natsProcs: o.natsProcs,
    cpus,
  });
  const ctx: ClusterContext = {
    setup,
    host: o.host,
    pool,
    warmupMs: o.warmupMs,
    measureMs: o.measureMs,
    concurrency: 64,
    log: (line) => log(`${what}: ${line}`),
  };
  const pids = [...setup.nodes.map((n) => n.server.pid), ...(setup.engine ? [setup.engine.pid] : [])];
  ctx.log(`pids ${pids.join(', ')}`);
  try {
    if (scenario === 'x1') {
      return await runClusterFanout(ctx, {
        subscribers: o.clusterSubscribers,
        payloadSize: o.clusterPayloadSize,
        window: o.clusterWindow,
        crowdNapMs: o.crowdNapMs,
      });
    }
    return await runClusterLockstep(ctx, { payloadSize: o.clusterPayloadSize });
  } catch (err) {
    await pool.all({ op: 'closeAll' }).catch(() => {});
    const dead = [...setup.nodes.map((n) => n.server), ...(setup.engine ? [setup.engine] : [])].filter(
      (s) => !s.alive,
    );
    if (dead.length > 0)
      throw new Error(
        `${(err as Error).message}; ${dead.map((s) => `${s.label} died: ${s.logTail(3)}`).join('; ')}`,
      );
    throw err;
  } finally {
    await setup.stop();
  }
}

/** Runs the selected cluster scenarios on every selected setup, into `results.cluster`. */
export async function runClusterSection(
  results: BenchResults,
  o: BenchOptions,
  pool: GeneratorPool,
  workDir: string,
  cpus: string | null,
  log: (line: string) => void,
): Promise<void> {
  for (const scenario of ['x1', 'x2'] as const) {
    if (!o.scenarios.includes(scenario)) continue;
    const runs: ClusterResults = {};
    for (const name of o.clusterSetups) {
      try {
        runs[name] = { ok: true, value: await runOne(scenario, name, o, pool, workDir, cpus, log) };
      } catch (err) {
        const error = (err as Error).message;
        log(`${CLUSTER_SETUP_LABELS[name]} (${scenario}) failed: ${error}`);
        runs[name] = { ok: false, error };
      }
    }
    results.cluster = { ...results.cluster, [scenario]: runs };
  }
}
