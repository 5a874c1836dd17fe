import type { GeneratorPool } from '../generator/pool.js';
import type { ConnectResult, ConnSpec } from '../generator/protocol.js';
import type { ClusterSetup, ClusterSetupName } from '../targets/cluster-launch.js';
import { sleep } from '../targets/server-process.js';
import type { DeliveryCheck } from './fanout.js';
import { type Measurement, measureQuiet } from './measure.js';

/** Everything a cluster scenario needs for one setup. */
export interface ClusterContext {
  setup: ClusterSetup;
  host: string;
  pool: GeneratorPool;
  warmupMs: number;
  measureMs: number;
  /** Handshakes in flight per generator process. */
  concurrency: number;
  log: (line: string) => void;
}

/** CPU of one process of a setup over the measured window. */
export interface ProcessCpu {
  /** `A`, `B` (nodes) or `engine`. */
  role: 'A' | 'B' | 'engine';
  /** In cores (1 = one core busy). */
  cpu: number;
}

/** One cluster scenario's run on one setup. */
export interface ClusterRun {
  setup: ClusterSetupName;
  /** Subscribers on each node, A first. */
  subscribersPerNode: number[];
  result: Measurement;
  check: DeliveryCheck;
  /** Nodes (A, then B) and the engine server, if any. */
  processes: ProcessCpu[];
}

/**
 * How long subscriptions get to reach the other node (the engine's interest, or nats-server's
 * route) before the first publication; a closed loop whose lead misses publications stalls.
 */
export const INTEREST_SETTLE_MS = 500;

/** Opens `conns` in generator process `worker`, on node `node` of the setup; throws on failures. */
export async function connectTo(
  ctx: ClusterContext,
  worker: number,
  node: number,
  conns: ConnSpec[],
): Promise<void> {
  if (conns.length === 0) return;
  const r = await ctx.pool.request<ConnectResult>(worker, {
    op: 'connect',
    host: ctx.host,
    port: ctx.setup.nodes[node]!.port, // node < nodes.length, by construction
    target: ctx.setup.dialect,
    concurrency: ctx.concurrency,
    conns,
  });
  if (r.failed > 0) throw new Error(`${r.failed} connections to node ${node} failed: ${r.firstError}`);
}

/**
 * One window (only one: the cluster section must stay short; a disturbed window is flagged, not
 * measured again), with the CPU of every node and of the engine server.
 */
export async function measureSetup(
  ctx: ClusterContext,
): Promise<{ result: Measurement; processes: ProcessCpu[] }> {
  const { nodes, engine } = ctx.setup;
  const companions = [...nodes.slice(1).map((n) => n.server), ...(engine ? [engine] : [])];
  const result = await measureQuiet(ctx.pool, nodes[0]!.server, ctx.measureMs, ctx.log, 1, companions);
  const cpu = [result.serverCpu, ...(result.companionCpu ?? [])];
  const processes: ProcessCpu[] = nodes.map((_, i) => ({ role: i === 0 ? 'A' : 'B', cpu: cpu[i] ?? NaN }));
  if (engine) processes.push({ role: 'engine', cpu: cpu[nodes.length] ?? NaN });
  return { result, processes };
}

export async function settle(ctx: ClusterContext): Promise<void> {
  if (ctx.setup.nodes.length > 1) await sleep(INTEREST_SETTLE_MS);
}
