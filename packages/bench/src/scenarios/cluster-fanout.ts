import type { ConnSpec } from '../generator/protocol.js';
import { sleep } from '../targets/server-process.js';
import { type ClusterContext, type ClusterRun, connectTo, measureSetup, settle } from './cluster-context.js';
import { drain, shares } from './measure.js';

export interface ClusterFanoutOptions {
  /** Subscribers in all, split evenly over the nodes. */
  subscribers: number;
  payloadSize: number;
  /** Publications in flight, as seen by the lead subscriber (one closed loop). */
  window: number;
  /** How long crowd processes sleep between event-loop turns (see the `nap` request). */
  crowdNapMs: number;
}

const CHANNEL = 'bench.cluster.fanout';

/**
 * Scenario (x1): one publisher on node A, the subscribers of its channel split over A and B. The
 * lead, which paces the closed loop, subscribes last, on the last node (B when there are two): once
 * it has a publication, every subscriber on both nodes has it, or nearly. One sampler sits in the
 * middle of A's subscribers, so both nodes' latencies show.
 */
export async function runClusterFanout(ctx: ClusterContext, o: ClusterFanoutOptions): Promise<ClusterRun> {
  const { pool, setup } = ctx;
  const crowdWorkers = pool.size > 1 ? Array.from({ length: pool.size - 1 }, (_, i) => i + 1) : [0];
  const perNode = shares(o.subscribers, setup.nodes.length);
  const last = setup.nodes.length - 1;
  const crowd = async (node: number, n: number): Promise<void> => {
    await Promise.all(
      shares(n, crowdWorkers.length).map((k, i) =>
        connectTo(
          ctx,
          crowdWorkers[i]!, // one share per worker
          node,
          Array.from({ length: k }, (): ConnSpec => ({ role: 'subscriber', channel: CHANNEL })),
        ),
      ),
    );
  };
  const started = performance.now();
  for (const [node, n] of perNode.entries()) {
    // Node A: half its crowd, the sampler, the rest; the last node ends with the lead.
    const own = n - (node === 0 ? 1 : 0) - (node === last ? 1 : 0);
    const before = node === 0 ? Math.floor(own / 2) : own;
    await crowd(node, before);
    if (node === 0) await connectTo(ctx, 0, 0, [{ role: 'subscriber', channel: CHANNEL, sample: 'latency' }]);
    await crowd(node, own - before);
    if (node === last)
      await connectTo(ctx, 0, node, [{ key: 'lead', role: 'subscriber', channel: CHANNEL, sample: 'last' }]);
  }
  await connectTo(ctx, 0, 0, [{ key: 'pub', role: 'publisher', channel: CHANNEL }]);
  ctx.log(
    `${o.subscribers} subscribers (${perNode.join(' + ')}) ready in ${(performance.now() - started).toFixed(0)} ms`,
  );
  await settle(ctx);
  if (pool.size > 1)
    await Promise.all(crowdWorkers.map((w) => pool.request(w, { op: 'nap', ms: o.crowdNapMs })));

  const before = await pool.totals();
  await pool.request(0, {
    op: 'startLoops',
    loops: [
      {
        publisher: 'pub',
        lead: 'lead',
        payloadSize: o.payloadSize,
        pacing: { kind: 'window', window: o.window },
      },
    ],
  });
  await sleep(ctx.warmupMs);
  const { result, processes } = await measureSetup(ctx);
  await pool.request(0, { op: 'stopLoops' });
  const after = await drain(pool);
  await pool.all({ op: 'closeAll' });
  ctx.log(`${Math.round(result.deliveriesPerSec).toLocaleString('en-US')} deliveries/s`);
  return {
    setup: setup.name,
    subscribersPerNode: perNode,
    result,
    check: {
      expected: (after.sent - before.sent) * o.subscribers,
      received: after.delivered - before.delivered,
    },
    processes,
  };
}
