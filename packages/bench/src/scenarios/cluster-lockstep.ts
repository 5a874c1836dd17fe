import { sleep } from '../targets/server-process.js';
import { type ClusterContext, type ClusterRun, connectTo, measureSetup, settle } from './cluster-context.js';
import { drain } from './measure.js';

export interface ClusterLockstepOptions {
  payloadSize: number;
}

const CHANNEL = 'bench.cluster.lockstep';

/**
 * Scenario (x2): one publisher on node A, one subscriber on the last node (B when there are two),
 * one publication at a time: the next goes out when the subscriber has the last. Both ends live
 * in generator process 0, which reads at once; every publication's latency is recorded.
 */
export async function runClusterLockstep(
  ctx: ClusterContext,
  o: ClusterLockstepOptions,
): Promise<ClusterRun> {
  const { pool, setup } = ctx;
  const last = setup.nodes.length - 1;
  await connectTo(ctx, 0, last, [{ key: 'sub', role: 'subscriber', channel: CHANNEL, sample: 'latency' }]);
  await connectTo(ctx, 0, 0, [{ key: 'pub', role: 'publisher', channel: CHANNEL }]);
  await settle(ctx);
  const before = await pool.totals();
  await pool.request(0, {
    op: 'startLoops',
    loops: [
      { publisher: 'pub', lead: 'sub', payloadSize: o.payloadSize, pacing: { kind: 'window', window: 1 } },
    ],
  });
  await sleep(ctx.warmupMs);
  const { result, processes } = await measureSetup(ctx);
  await pool.request(0, { op: 'stopLoops' });
  const after = await drain(pool);
  await pool.all({ op: 'closeAll' });
  ctx.log(
    `${Math.round(result.deliveriesPerSec).toLocaleString('en-US')} messages/s, p50 ${(result.p50Micros / 1000).toFixed(3)} ms`,
  );
  return {
    setup: setup.name,
    subscribersPerNode: setup.nodes.map((_, i) => (i === last ? 1 : 0)),
    result,
    check: { expected: after.sent - before.sent, received: after.delivered - before.delivered },
    processes,
  };
}
