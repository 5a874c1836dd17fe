/** The cluster scenarios' block (x1, x2): two nodes joined through an engine server, against one. */
import type { BenchResults, ClusterResults } from '../results.js';
import type { ClusterRun, ProcessCpu } from '../scenarios/cluster-context.js';
import { DISTURBED_CPU, type Measurement } from '../scenarios/measure.js';
import {
  CLUSTER_BASELINE,
  CLUSTER_SETUP_LABELS,
  CLUSTER_SETUP_NAMES,
  type ClusterSetupName,
} from '../targets/cluster-launch.js';
import { clusterFanoutBars } from './cluster-bars.js';
import { cores, count, dash, percent, ratio, table } from './format.js';
import { renderHeader } from './markdown.js';
import { generatorNearLimit, loadNotes } from './mqtt.js';

/** Microseconds, with two decimals below 10. */
export function micros(v: number): string {
  if (!Number.isFinite(v)) return dash;
  return `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v).toLocaleString('en-US')} µs`;
}

/** µs of CPU per unit of work, given a CPU share (cores) and units per second. */
export const cpuPer = (cpu: number, perSec: number): number => (perSec > 0 ? (cpu * 1e6) / perSec : NaN);

const cpuOf = (run: ClusterRun, role: ProcessCpu['role']): number =>
  run.processes.find((p) => p.role === role)?.cpu ?? NaN;

/** CPU of every process of the setup (nodes and engine), in cores. */
const totalCpu = (run: ClusterRun): number => run.processes.reduce((n, p) => n + p.cpu, 0);

function label(r: BenchResults, name: ClusterSetupName, m: Measurement): string {
  const disturbed = m.otherCpu >= DISTURBED_CPU ? ' ⚠' : '';
  const generator = generatorNearLimit(m, r.settings.generatorCores) ? ' ‡' : '';
  return `${CLUSTER_SETUP_LABELS[name]}${disturbed}${generator}`;
}

function delivered(run: ClusterRun): string {
  const stalls = run.result.stalls > 0 ? `, ${run.result.stalls} stalls` : '';
  const closed = run.result.closed > 0 ? `, ${run.result.closed} conns closed` : '';
  return `${percent(run.check.received, run.check.expected)}${closed}${stalls}`;
}

/** The setups that ran, in order, with their runs (failures as a row saying why). */
function rows(
  runs: ClusterResults | undefined,
  ok: (name: ClusterSetupName, run: ClusterRun) => string[],
  width: number,
): string[][] {
  const out: string[][] = [];
  for (const name of CLUSTER_SETUP_NAMES) {
    const outcome = runs?.[name];
    if (!outcome) continue;
    if (outcome.ok) out.push(ok(name, outcome.value));
    else {
      const why = `not measured: ${outcome.error.replaceAll('|', '\\|').replaceAll('\n', ' ')}`;
      out.push([CLUSTER_SETUP_LABELS[name], why, ...Array(width - 2).fill('')]);
    }
  }
  return out;
}

const baselineOf = (runs: ClusterResults | undefined, name: ClusterSetupName): ClusterRun | undefined => {
  const base = runs?.[CLUSTER_BASELINE[name]];
  return base?.ok ? base.value : undefined;
};

/** `a / b` of the run and its single-node baseline, or a dash for the baseline itself. */
function vsBaseline(
  runs: ClusterResults | undefined,
  name: ClusterSetupName,
  pick: (run: ClusterRun) => number,
  run: ClusterRun,
): string {
  if (CLUSTER_BASELINE[name] === name) return dash;
  const base = baselineOf(runs, name);
  return base ? ratio(pick(run), pick(base)) : dash;
}

function fanout(r: BenchResults, runs: ClusterResults | undefined): string[] {
  const s = r.settings;
  if (!runs) return [];
  const perDelivery = (run: ClusterRun, node: number): number => {
    const share = (run.subscribersPerNode[node] ?? 0) / run.subscribersPerNode.reduce((a, b) => a + b, 0);
    return cpuPer(cpuOf(run, node === 0 ? 'A' : 'B'), run.result.deliveriesPerSec * share);
  };
  const all = (run: ClusterRun): number => cpuPer(totalCpu(run), run.result.deliveriesPerSec);
  return [
    `### (x1) Fan-out across nodes: 1 publisher on A → ${count(s.clusterSubscribers ?? NaN)} subscribers split over A and B ` +
      `(closed loop, ${s.clusterWindow ?? dash} in flight, ${s.clusterPayloadSize ?? dash} B)`,
    '',
    table(
      [
        'setup',
        'subscribers (A + B)',
        'deliveries/s',
        'publications/s',
        'p99 on A',
        'p99 last sub. (B)',
        'delivered',
        'generator CPU (sys)',
        'cores busy',
      ],
      rows(
        runs,
        (name, run) => [
          label(r, name, run.result),
          run.subscribersPerNode.join(' + '),
          `**${count(run.result.deliveriesPerSec)}**`,
          count(run.result.publishesPerSec),
          msFromMicros(run.result.p99Micros),
          msFromMicros(run.result.lastP99Micros),
          delivered(run),
          `${cores(run.result.generatorCpu)} (${cores(run.result.generatorSystemCpu)})`,
          run.result.coreBusy.map(cores).join(' / '),
        ],
        9,
      ),
    ),
    '',
    'CPU over the window (`utime + stime` of each process), and per unit of work: a node per delivery it ' +
      'made (its share of the subscribers × publications), the engine server per publication (each crosses it once).',
    '',
    table(
      [
        'setup',
        'CPU A / B / engine',
        'A µs per delivery',
        'B µs per delivery',
        'engine µs per publication',
        'all processes µs per delivery',
        'vs 1 node',
      ],
      rows(
        runs,
        (name, run) => [
          CLUSTER_SETUP_LABELS[name],
          run.processes.map((p) => cores(p.cpu)).join(' / '),
          micros(perDelivery(run, 0)),
          run.subscribersPerNode.length > 1 ? micros(perDelivery(run, 1)) : dash,
          micros(cpuPer(cpuOf(run, 'engine'), run.result.publishesPerSec)),
          micros(all(run)),
          vsBaseline(runs, name, all, run),
        ],
        7,
      ),
    ),
    '',
    ...clusterFanoutBars(runs),
  ];
}

function msFromMicros(v: number): string {
  if (!Number.isFinite(v)) return dash;
  return v < 1000 ? micros(v) : `${(v / 1000).toFixed(v < 10_000 ? 2 : 1)} ms`;
}

function lockstep(r: BenchResults, runs: ClusterResults | undefined): string[] {
  const s = r.settings;
  if (!runs) return [];
  const rate = (run: ClusterRun): number => run.result.deliveriesPerSec;
  const per = (run: ClusterRun, role: ProcessCpu['role']): number => cpuPer(cpuOf(run, role), rate(run));
  const all = (run: ClusterRun): number => cpuPer(totalCpu(run), rate(run));
  return [
    `### (x2) Lock-step across nodes: 1 publisher on A → 1 subscriber on B, one message at a time (${s.clusterPayloadSize ?? dash} B)`,
    '',
    table(
      [
        'setup',
        'messages/s',
        'p50',
        'p99',
        'p50 vs 1 node',
        'p99 vs 1 node',
        'messages/s vs 1 node',
        'delivered',
        'generator CPU (sys)',
        'cores busy',
      ],
      rows(
        runs,
        (name, run) => [
          label(r, name, run.result),
          `**${count(rate(run))}**`,
          msFromMicros(run.result.p50Micros),
          msFromMicros(run.result.p99Micros),
          vsBaseline(runs, name, (x) => x.result.p50Micros, run),
          vsBaseline(runs, name, (x) => x.result.p99Micros, run),
          vsBaseline(runs, name, rate, run),
          delivered(run),
          `${cores(run.result.generatorCpu)} (${cores(run.result.generatorSystemCpu)})`,
          run.result.coreBusy.map(cores).join(' / '),
        ],
        10,
      ),
    ),
    '',
    'CPU per message (`utime + stime` of each process over the window ÷ messages):',
    '',
    table(
      [
        'setup',
        'CPU A / B / engine',
        'A µs/msg',
        'B µs/msg',
        'engine µs/msg',
        'all processes µs/msg',
        'vs 1 node',
      ],
      rows(
        runs,
        (name, run) => [
          CLUSTER_SETUP_LABELS[name],
          run.processes.map((p) => cores(p.cpu)).join(' / '),
          micros(per(run, 'A')),
          run.processes.some((p) => p.role === 'B') ? micros(per(run, 'B')) : dash,
          run.processes.some((p) => p.role === 'engine') ? micros(per(run, 'engine')) : dash,
          micros(all(run)),
          vsBaseline(runs, name, all, run),
        ],
        7,
      ),
    ),
    '',
  ];
}

export function renderCluster(r: BenchResults): string {
  const runs = [r.cluster?.x1, r.cluster?.x2].flatMap((x) =>
    Object.values(x ?? {}).flatMap((o) => (o?.ok ? [o.value.result] : [])),
  );
  const out = [
    ...renderHeader(r),
    `Setups: ${CLUSTER_SETUP_NAMES.map((n) => `${CLUSTER_SETUP_LABELS[n]} (\`${n}\`)`).join(', ')}. ` +
      `Each run starts fresh servers, ${r.settings.placement} (every server of a setup, nodes and engine, on the servers' CPU). ` +
      'Ratios compare each setup with the single server of the same kind in the same run.',
    '',
    ...fanout(r, r.cluster?.x1),
    ...lockstep(r, r.cluster?.x2),
    ...loadNotes(runs, r.settings),
  ];
  return `${out.join('\n').trimEnd()}\n`;
}
