/**
 * `npm run bench`: Pulse and its peers side by side, on one load generator, in one run.
 * Prints the tables and (for a full run) writes them into docs/BENCHMARKS.md between the markers.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statfsSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BenchOptions, parseBenchArgs, SCENARIO_NAMES, type ScenarioName, USAGE } from './args.js';
import {
  isDurableTarget,
  isMqttTarget,
  isWsTarget,
  TARGET_NAMES,
  type TargetName,
} from './dialects/index.js';
import { runClusterSection } from './cluster-section.js';
import { GeneratorPool } from './generator/pool.js';
import { KEEPALIVE_MS } from './generator/protocol.js';
import { renderCluster } from './report/cluster.js';
import { runLockstepSection } from './lockstep-section.js';
import { CLUSTER_BLOCK, DURABLE_BLOCK, LOCKSTEP_BLOCK, MAIN_BLOCK, writeGenerated } from './report/doc.js';
import { renderLockstep } from './report/lockstep.js';
import { renderDurable } from './report/durable.js';
import { renderMarkdown } from './report/markdown.js';
import type { BenchResults, Outcome, TargetResults } from './results.js';
import type { ScenarioContext } from './scenarios/context.js';
import { runFanout } from './scenarios/fanout.js';
import { runIdle } from './scenarios/idle.js';
import { runMicro } from './scenarios/micro.js';
import { runMqttRetained } from './scenarios/mqtt-retained.js';
import { runMqttThroughput } from './scenarios/mqtt-throughput.js';
import { runPairs } from './scenarios/pairs.js';
import { launch, launchMqtt, TARGET_LABELS, unavailable } from './targets/launch.js';

const DOC = fileURLToPath(new URL('../../../../docs/BENCHMARKS.md', import.meta.url));

/**
 * (c), (c2): after the burst, two keep-alive periods pass before RSS is read over a third. The
 * clients' pings are the only traffic; their scavenges are what shrink a young generation grown
 * by the burst, and the first period's pings may not fill it enough to run one.
 */
const IDLE_SETTLE_MS = 2 * KEEPALIVE_MS;

const log = (line: string): void => console.error(`[bench] ${line}`);

const WS_SCENARIOS: ReadonlySet<ScenarioName> = new Set(['a', 'b', 'c']);
const MQTT_SCENARIOS: ReadonlySet<ScenarioName> = new Set(['c2', 'm1', 'm2', 'm3']);
/** Scenarios with blocks of their own in the doc. */
const OWN_BLOCK: ReadonlySet<ScenarioName> = new Set(['d1', 'x1', 'x2', 'l1', 'l2', 'l3']);
const LOCKSTEP_SCENARIOS: ReadonlySet<ScenarioName> = new Set(['l1', 'l2', 'l3']);

/** Whether `scenario` runs on `target`. */
function runsOn(scenario: ScenarioName, target: TargetName): boolean {
  if (scenario === 'd1') return isDurableTarget(target);
  if (MQTT_SCENARIOS.has(scenario)) return isMqttTarget(target);
  return WS_SCENARIOS.has(scenario) && isWsTarget(target);
}

/** The file system type of `dir`, by the magic number statfs(2) gives. */
function fsType(dir: string): string {
  const types: Record<number, string> = {
    61267: 'ext4',
    1481003842: 'xfs',
    2435016766: 'btrfs',
    16914836: 'tmpfs',
    2035054128: 'overlayfs',
    801189825: 'zfs',
  };
  const type = statfsSync(dir).type;
  return types[type] ?? `0x${type.toString(16)}`;
}

function command(argv: string[]): string {
  const args = argv.join(' ');
  if (process.env.npm_lifecycle_event === 'bench') return `npm run bench${args ? ` -- ${args}` : ''}`;
  return `node packages/bench/dist/src/run.js${args ? ` ${args}` : ''}`;
}

function machine(): string {
  const cpus = os.cpus();
  return `${cpus.length} cores (${cpus[0]?.model.trim() ?? 'unknown CPU'}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Linux ${os.release()}`;
}

/** Which CPUs servers and generator processes run on (taskset lists), null = anywhere. */
interface Placement {
  server: string | null;
  generator: string | null;
  /** How many CPUs the generator may use. */
  generatorCores: number;
  description: string;
}

function choosePlacement(o: BenchOptions): Placement {
  const cores = os.cpus().length;
  const taskset = spawnSync('taskset', ['-V']).status === 0;
  if (!o.pin || cores < 2 || !taskset) {
    return {
      server: null,
      generator: null,
      generatorCores: cores,
      description: 'servers and generator not pinned',
    };
  }
  const generator = cores === 2 ? '1' : `1-${cores - 1}`;
  return {
    server: '0',
    generator,
    generatorCores: cores - 1,
    description: `server pinned to CPU 0, generator to CPU ${generator}`,
  };
}

async function attempt<T>(what: string, run: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await run() };
  } catch (err) {
    const error = (err as Error).message;
    log(`${what} failed: ${error}`);
    return { ok: false, error };
  }
}

/** One fresh server per scenario, so each RSS figure starts from a clean process. */
async function runTarget(
  target: TargetName,
  o: BenchOptions,
  pool: GeneratorPool,
  workDir: string,
  placement: Placement,
): Promise<TargetResults> {
  const results: TargetResults = {};
  const missing = unavailable(target);
  const scenarios = o.scenarios.filter((s) => runsOn(s, target)) as Exclude<ScenarioName, 'micro'>[];
  for (const scenario of scenarios) {
    const mqtt = !WS_SCENARIOS.has(scenario);
    const what = `${TARGET_LABELS[target]}${mqtt && target === 'pulse' ? ' MQTT' : ''} (${scenario})`;
    const outcome = await attempt(what, async () => {
      if (missing) throw new Error(missing);
      let launches = 0;
      const start = () => {
        const launchOptions = {
          host: o.host,
          workDir,
          tag: `${target}-${scenario}${launches++ > 0 ? `-${launches}` : ''}`,
          natsProcs: o.natsProcs,
          cpus: placement.server,
        };
        if (mqtt && (isMqttTarget(target) || isDurableTarget(target)))
          return launchMqtt(target, launchOptions);
        if (!mqtt && isWsTarget(target)) return launch(target, launchOptions);
        throw new Error(`${target} has no ${scenario}`);
      };
      const first = await start();
      const ctx: ScenarioContext = {
        target,
        protocol: mqtt ? 'mqtt' : 'ws',
        server: first.server,
        host: o.host,
        port: first.port,
        pool,
        warmupMs: o.warmupMs,
        measureMs: o.measureMs,
        concurrency: 64,
        log: (line) => log(`${what}: ${line}`),
        restart: async () => {
          await ctx.server.stop();
          const next = await start();
          ctx.server = next.server;
          ctx.port = next.port;
          ctx.log(`fresh server pid ${next.server.pid} on port ${next.port}`);
        },
      };
      try {
        log(`${what}: server pid ${ctx.server.pid} on port ${ctx.port}`);
        switch (scenario) {
          case 'a':
            return await runFanout(ctx, {
              subscribers: o.subscribers,
              payloadSize: o.payloadSize,
              windows: o.fanoutWindows,
              samplers: 5,
              crowdNapMs: o.crowdNapMs,
              fractions: o.openLoopFractions,
            });
          case 'b':
            return await runPairs(ctx, {
              pairs: o.pairs,
              payloadSize: o.payloadSize,
              window: o.pairWindow,
              samplers: 10,
              napMs: o.pairNapMs,
            });
          case 'c':
          case 'c2':
            return await runIdle(ctx, {
              connections: o.idleConnections,
              settleMs: o.quick ? 3000 : IDLE_SETTLE_MS,
              windowMs: o.quick ? 0 : KEEPALIVE_MS,
              freshMs: o.quick ? 3000 : 15_000,
            });
          case 'm1':
            return await runMqttThroughput(ctx, {
              scenario: 'm1',
              payloadSize: o.mqttPayloadSize,
              windows: o.mqttWindows,
              qosLevels: o.mqttQos,
              napMs: o.mqttNapMs,
            });
          case 'm2':
            return await runFanout(ctx, {
              subscribers: o.subscribers,
              payloadSize: o.mqttPayloadSize,
              windows: o.fanoutWindows,
              samplers: 5,
              crowdNapMs: o.crowdNapMs,
              fractions: [],
            });
          case 'm3':
            return await runMqttRetained(ctx, {
              topics: o.retainedTopics,
              subscribers: o.retainedSubscribers,
              payloadSize: o.mqttPayloadSize,
              rounds: o.retainedRounds,
            });
          case 'd1': {
            const qosLevels = o.mqttQos.filter((q) => q > 0);
            if (qosLevels.length === 0) throw new Error('d1 runs QoS 1 and 2 only (see --mqtt-qos)');
            return await runMqttThroughput(ctx, {
              scenario: 'd1',
              payloadSize: o.mqttPayloadSize,
              windows: o.mqttWindows,
              qosLevels,
              napMs: o.mqttNapMs,
            });
          }
        }
      } catch (err) {
        await pool.all({ op: 'closeAll' }).catch(() => {});
        const died = !ctx.server.alive;
        // Stopped here, so that the stop in `finally` cannot throw over this error.
        await ctx.server.stop().catch(() => {});
        if (died) throw new Error(`${(err as Error).message}; the server died: ${ctx.server.logTail(3)}`);
        throw err;
      } finally {
        await ctx.server.stop();
      }
    });
    (results as Record<string, Outcome<unknown>>)[scenario] = outcome;
  }
  return results;
}

async function main(): Promise<void> {
  let o: BenchOptions | 'help';
  try {
    o = parseBenchArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`bench: ${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (o === 'help') {
    console.log(USAGE);
    return;
  }
  const startedAt = performance.now();
  const place = choosePlacement(o);
  const full =
    o.scenarios.length === SCENARIO_NAMES.length && o.targets.length === TARGET_NAMES.length && !o.quick;
  const results: BenchResults = {
    settings: {
      command: command(o.argv),
      date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      node: process.version,
      machine: machine(),
      scenarios: o.scenarios,
      targets: o.targets,
      procs: o.procs,
      warmupMs: o.warmupMs,
      measureMs: o.measureMs,
      payloadSize: o.payloadSize,
      subscribers: o.subscribers,
      fanoutWindows: o.fanoutWindows,
      openLoopFractions: o.openLoopFractions,
      pairs: o.pairs,
      pairWindow: o.pairWindow,
      idleConnections: o.idleConnections,
      natsProcs: o.natsProcs,
      mqttPayloadSize: o.mqttPayloadSize,
      mqttWindows: o.mqttWindows,
      mqttNapMs: o.mqttNapMs,
      retainedTopics: o.retainedTopics,
      retainedSubscribers: o.retainedSubscribers,
      retainedRounds: o.retainedRounds,
      clusterSubscribers: o.clusterSubscribers,
      clusterWindow: o.clusterWindow,
      clusterPayloadSize: o.clusterPayloadSize,
      lockstepCount: o.lockstepCount,
      lockstepReps: o.lockstepReps,
      devices: o.devices,
      devicesRounds: o.devicesRounds,
      devicesWarmupRounds: o.devicesWarmupRounds,
      lowLoadRate: o.lowLoadRate,
      lowLoadReps: o.lowLoadReps,
      placement: place.description,
      generatorCores: place.generatorCores,
      durationSec: 0,
    },
    targets: {},
  };

  if (o.scenarios.includes('micro')) {
    log('codec and broker micro-benchmarks');
    const sizes = [64, 1024, 65536];
    const [warmupMs, measureMs] = o.quick ? [100, 200] : [300, 1000];
    results.micro = await attempt('micro', async () => runMicro({ sizes, warmupMs, measureMs }));
  }

  if (o.scenarios.some((s) => s !== 'micro')) {
    const workDir = mkdtempSync(join(os.tmpdir(), 'pulse-bench-'));
    results.settings.dataFs = fsType(workDir);
    const pool = new GeneratorPool(o.procs, place.generator);
    const stop = (): void => {
      void pool.close().finally(() => process.exit(130));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      for (const target of o.targets)
        results.targets[target] = await runTarget(target, o, pool, workDir, place);
      await runClusterSection(results, o, pool, workDir, place.server, log);
      if (o.scenarios.some((s) => LOCKSTEP_SCENARIOS.has(s)))
        await runLockstepSection(results, o, pool, workDir, place, log);
    } finally {
      await pool.close();
      rmSync(workDir, { recursive: true, force: true });
    }
  }

  results.settings.durationSec = (performance.now() - startedAt) / 1000;
  // d1 and the cluster scenarios have blocks of their own in the doc, so that running them alone
  // leaves the other tables as they are.
  const blocks = [
    {
      block: MAIN_BLOCK,
      markdown: o.scenarios.some((s) => !OWN_BLOCK.has(s)) ? renderMarkdown(results) : null,
    },
    { block: DURABLE_BLOCK, markdown: o.scenarios.includes('d1') ? renderDurable(results) : null },
    {
      block: CLUSTER_BLOCK,
      markdown: o.scenarios.some((s) => s === 'x1' || s === 'x2') ? renderCluster(results) : null,
    },
    {
      block: LOCKSTEP_BLOCK,
      markdown: o.scenarios.some((s) => LOCKSTEP_SCENARIOS.has(s)) ? renderLockstep(results) : null,
    },
  ];
  for (const b of blocks) if (b.markdown !== null) console.log(`\n${b.markdown}`);
  const write = o.write ?? full;
  if (write) {
    const doc = o.doc ?? DOC;
    for (const b of blocks) if (b.markdown !== null) writeGenerated(doc, b.markdown, b.block);
    log(`results written to ${doc}`);
  } else {
    log('partial or quick run: docs/BENCHMARKS.md left alone (pass --write to update it)');
  }
}

await main();
