import type { ConnectResult, ConnSpec, Totals } from '../generator/protocol.js';
import { sleep } from '../targets/server-process.js';
import type { ScenarioContext } from './context.js';
import { drain, type Measurement, measureQuiet, shares } from './measure.js';

export interface FanoutOptions {
  subscribers: number;
  payloadSize: number;
  /** Publications in flight (seen by the lead subscriber) in the max-rate runs, one run each. */
  windows: number[];
  /** Open-loop rates to measure latency at, as fractions of the max publication rate. */
  fractions: number[];
  /** Subscribers besides the lead that record latency, spread over the subscription order. */
  samplers: number;
  /** How long crowd processes sleep between event-loop turns (see the `nap` request). */
  crowdNapMs: number;
}

export interface DeliveryCheck {
  /** Publications × subscribers. */
  expected: number;
  received: number;
  /** MQTT: packets that made no sense to the generator (unknown packet ids, duplicates, …). */
  anomalies?: number;
}

export interface WindowRun {
  window: number;
  result: Measurement;
  check: DeliveryCheck;
}

export interface RateRun {
  /** Fraction of the max publication rate. */
  fraction: number;
  rate: number;
  result: Measurement;
  check: DeliveryCheck;
}

export interface FanoutResult {
  subscribers: number;
  connectMs: number;
  serverIdleRssKiB: number;
  /** Closed-loop runs, one per window size. */
  windows: WindowRun[];
  /** The window run with the most deliveries/s. */
  best: WindowRun;
  /** Open-loop runs at fractions of the publication rate the best window reached; 0.5 comes first. */
  openLoop: RateRun[];
}

const CHANNEL = 'bench.fanout';

/**
 * Scenario (a): one publisher, one channel, many subscribers; over MQTT (ctx.protocol), scenario
 * (m2): the same at QoS 0, topic `bench.fanout`.
 */
export async function runFanout(ctx: ScenarioContext, o: FanoutOptions): Promise<FanoutResult> {
  const { pool } = ctx;
  const serverIdleRssKiB = ctx.server.rssKiB();
  // Process 0 reads promptly: the publisher, the lead and the sampling subscribers. The silent crowd
  // (subscribers that only count) lives in the other processes, which read in naps.
  const crowdWorkers = pool.size > 1 ? Array.from({ length: pool.size - 1 }, (_, i) => i + 1) : [0];
  const connect = (w: number, conns: ConnSpec[]) =>
    pool.request<ConnectResult>(w, {
      op: 'connect',
      host: ctx.host,
      port: ctx.port,
      target: ctx.target,
      protocol: ctx.protocol,
      concurrency: ctx.concurrency,
      conns,
    });
  const crowd = (n: number) =>
    shares(n, crowdWorkers.length).map((k, i) =>
      connect(
        crowdWorkers[i]!, // shares() gives one share per worker
        Array.from({ length: k }, () => ({ role: 'subscriber', channel: CHANNEL })),
      ),
    );
  // Servers deliver in (about) subscription order, so the samplers are spread evenly
  // over it: sampler k subscribes at position (k + ½)·(N − 1)/S, the crowd fills the gaps, the lead
  // comes last (it is served last: once it has a publication, everyone has).
  const others = o.subscribers - 1;
  const positions = Array.from({ length: o.samplers }, (_, k) =>
    Math.round(((k + 0.5) * others) / o.samplers),
  );
  const started = performance.now();
  const opened: ConnectResult[] = [];
  let subscribed = 0;
  for (const position of positions) {
    opened.push(...(await Promise.all(crowd(position - subscribed))));
    opened.push(await connect(0, [{ role: 'subscriber', channel: CHANNEL, sample: 'latency' }]));
    subscribed = position + 1;
  }
  opened.push(...(await Promise.all(crowd(others - subscribed))));
  opened.push(
    await connect(0, [
      { key: 'lead', role: 'subscriber', channel: CHANNEL, sample: 'last' },
      { key: 'pub', role: 'publisher', channel: CHANNEL },
    ]),
  );
  const connectMs = performance.now() - started;
  const failures = opened.filter((r) => r.failed > 0);
  if (failures.length > 0) {
    const failed = failures.reduce((n, r) => n + r.failed, 0);
    throw new Error(`${failed} connections failed: ${failures[0]?.firstError}`);
  }
  ctx.log(`${o.subscribers} subscribers ready in ${connectMs.toFixed(0)} ms`);
  if (pool.size > 1)
    await Promise.all(crowdWorkers.map((w) => pool.request(w, { op: 'nap', ms: o.crowdNapMs })));

  const check = async (before: Totals): Promise<DeliveryCheck> => {
    const after = await drain(pool);
    return {
      expected: (after.sent - before.sent) * o.subscribers,
      received: after.delivered - before.delivered,
      anomalies: after.anomalies - before.anomalies,
    };
  };

  const windows: WindowRun[] = [];
  for (const window of o.windows) {
    const before = await pool.totals();
    await pool.request(0, {
      op: 'startLoops',
      loops: [
        {
          publisher: 'pub',
          lead: 'lead',
          payloadSize: o.payloadSize,
          pacing: { kind: 'window', window },
          qos: 0,
        },
      ],
    });
    await sleep(ctx.warmupMs);
    const result = await measureQuiet(pool, ctx.server, ctx.measureMs, ctx.log);
    await pool.request(0, { op: 'stopLoops' });
    windows.push({ window, result, check: await check(before) });
    ctx.log(`window ${window}: ${Math.round(result.deliveriesPerSec).toLocaleString('en-US')} deliveries/s`);
  }
  const best = windows.reduce((a, b) => (b.result.deliveriesPerSec > a.result.deliveriesPerSec ? b : a));

  const openLoop: RateRun[] = [];
  for (const fraction of o.fractions) {
    const rate = Math.max(1, Math.round(best.result.publishesPerSec * fraction));
    const before = await pool.totals();
    await pool.request(0, {
      op: 'startLoops',
      loops: [
        { publisher: 'pub', lead: null, payloadSize: o.payloadSize, pacing: { kind: 'rate', rate }, qos: 0 },
      ],
    });
    await sleep(Math.min(ctx.warmupMs, 1000));
    const result = await measureQuiet(pool, ctx.server, ctx.measureMs, ctx.log);
    await pool.request(0, { op: 'stopLoops' });
    openLoop.push({ fraction, rate, result, check: await check(before) });
    ctx.log(`${rate} publications/s: p99 ${(result.p99Micros / 1000).toFixed(2)} ms`);
  }
  await pool.all({ op: 'closeAll' });
  return { subscribers: o.subscribers, connectMs, serverIdleRssKiB, windows, best, openLoop };
}
