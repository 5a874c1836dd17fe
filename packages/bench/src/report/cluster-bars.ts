/** Issue 11's bars for the fan-out across nodes (x1), and `--workers 2` against one process. */
import type { ClusterResults } from '../results.js';
import type { ClusterRun } from '../scenarios/cluster-context.js';
import { CLUSTER_SETUP_LABELS, type ClusterSetupName } from '../targets/cluster-launch.js';
import { cores, count, ratio, table } from './format.js';

const ok = (runs: ClusterResults, name: ClusterSetupName): ClusterRun | undefined => {
  const o = runs[name];
  return o?.ok ? o.value : undefined;
};

const rate = (run: ClusterRun): number => run.result.deliveriesPerSec;
const cpu = (run: ClusterRun): number => run.processes.reduce((n, p) => n + p.cpu, 0);
const verdict = (pass: boolean): string => (pass ? 'pass' : '**FAIL**');

/**
 * Each two-node Pulse setup against Socket.IO + Redis adapter on two nodes (≥ 10×) and against one
 * Pulse node (≥ half), pass/FAIL; then `--workers 2` against one process.
 */
export function clusterFanoutBars(runs: ClusterResults | undefined): string[] {
  if (!runs) return [];
  const single = ok(runs, 'pulse-1');
  const socketIo = ok(runs, 'socketio-redis');
  const bars: string[][] = [];
  for (const name of ['pulse-nats', 'pulse-redis'] as const) {
    const run = ok(runs, name);
    if (!run) continue;
    const label = CLUSTER_SETUP_LABELS[name];
    if (socketIo)
      bars.push([
        `${label}: deliveries/s ≥ 10 × Socket.IO + Redis adapter (2 nodes)`,
        `${count(rate(run))} vs ${count(rate(socketIo))} (${ratio(rate(run), rate(socketIo))})`,
        verdict(rate(run) >= 10 * rate(socketIo)),
      ]);
    if (single)
      bars.push([
        `${label}: deliveries/s ≥ ½ × Pulse, 1 node`,
        `${count(rate(run))} vs ${count(rate(single))} (${ratio(rate(run), rate(single))})`,
        verdict(rate(run) >= 0.5 * rate(single)),
      ]);
  }
  const out: string[] = [];
  if (bars.length > 0) out.push('Issue 11 bars (x1):', '', table(['bar', 'figures', 'result'], bars), '');
  const workers = ok(runs, 'pulse-workers');
  if (workers && single) {
    out.push(
      '`--workers 2` against one process (the same core for both; all subscribers on the one port):',
      '',
      table(
        ['', 'deliveries/s', 'CPU (all processes)', 'µs per delivery'],
        [single, workers].map((run) => [
          CLUSTER_SETUP_LABELS[run.setup],
          count(rate(run)),
          cores(cpu(run)),
          ((cpu(run) * 1e6) / rate(run)).toFixed(2),
        ]),
      ),
      '',
      `Ratio --workers 2 / 1 process: deliveries/s ${ratio(rate(workers), rate(single))}, ` +
        `CPU per delivery ${ratio(cpu(workers) / rate(workers), cpu(single) / rate(single))}.`,
      '',
    );
  }
  return out;
}
