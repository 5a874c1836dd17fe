import type { ConnectResult, Request, SubscribeResult } from '../generator/protocol.js';
import { ResourceWatch, type ResourceUse } from '../targets/server-process.js';
import type { ScenarioContext } from './context.js';
import { shares } from './measure.js';

export interface MqttRetainedOptions {
  topics: number;
  subscribers: number;
  payloadSize: number;
  rounds: number;
}

/** CPU use over a time span (shares of a core; coreBusy per core). */
export interface RetainedLoad {
  serverCpu: number;
  generatorCpu: number;
  generatorSystemCpu: number;
  coreBusy: number[];
  otherCpu: number;
  /** Generator CPU of its busiest process, in cores. */
  generatorBusiestCpu: number;
}

export interface RetainedRound extends RetainedLoad {
  /** From the first SUBSCRIBE written to the last subscriber holding every retained message. */
  ms: number;
  /** Deliveries (subscribers × topics) per second over `ms`. */
  messagesPerSec: number;
  expected: number;
  received: number;
  /** Subscribers that received every retained message before the timeout. */
  complete: number;
  anomalies: number;
  /** Length of the measured span (the CPU shares are over it), in ms. */
  wallMs: number;
}

export interface MqttRetainedResult {
  topics: number;
  subscribers: number;
  payloadSize: number;
  /** Time to store the retained messages (QoS 1, 64 unacknowledged), for the record. */
  storeMs: number;
  serverIdleRssKiB: number;
  rssAfterStoreKiB: number;
  serverPeakRssKiB: number;
  rounds: RetainedRound[];
  /** The round with the median time. */
  median: RetainedRound;
  /**
   * CPU over all rounds together: one round lasts 50 ms to 2 s, and the kernel counts CPU time in
   * 10 ms ticks, so one round's shares are rough.
   */
  load: RetainedLoad;
}

const PREFIX = 'bench/retained';
const STORE_WINDOW = 64;
const TIMEOUT_MS = 30_000;

/**
 * Scenario (m3): one client stores `topics` retained messages on `bench/retained/0` …; then, per
 * round, `subscribers` fresh clients connect (spread over the generator processes) and all
 * subscribe to `bench/retained/#` at QoS 0 at once. A round lasts from the first SUBSCRIBE written
 * to the moment the last client has every retained message (times on the shared monotonic clock).
 */
export async function runMqttRetained(
  ctx: ScenarioContext,
  o: MqttRetainedOptions,
): Promise<MqttRetainedResult> {
  const { pool } = ctx;
  const serverIdleRssKiB = ctx.server.rssKiB();
  const connect = (w: number, req: Extract<Request, { op: 'connect' }>) =>
    pool.request<ConnectResult>(w, req);
  const opened = await connect(0, {
    op: 'connect',
    host: ctx.host,
    port: ctx.port,
    target: ctx.target,
    protocol: 'mqtt',
    concurrency: 1,
    conns: [{ key: 'store', role: 'publisher', channel: PREFIX }],
  });
  if (opened.failed > 0) throw new Error(`publisher: ${opened.firstError}`);
  const storeStarted = performance.now();
  await pool.request(0, {
    op: 'retain',
    publisher: 'store',
    prefix: PREFIX,
    count: o.topics,
    payloadSize: o.payloadSize,
    window: STORE_WINDOW,
  });
  const storeMs = performance.now() - storeStarted;
  await pool.all({ op: 'closeAll' });
  const rssAfterStoreKiB = ctx.server.rssKiB();
  ctx.log(`${o.topics} retained messages stored in ${storeMs.toFixed(0)} ms`);

  let serverPeakRssKiB = rssAfterStoreKiB;
  const rounds: RetainedRound[] = [];
  for (let round = 0; round < o.rounds; round++) {
    const counts = shares(o.subscribers, pool.size);
    const results = await Promise.all(
      counts.map((n, w) =>
        connect(w, {
          op: 'connect',
          host: ctx.host,
          port: ctx.port,
          target: ctx.target,
          protocol: 'mqtt',
          concurrency: ctx.concurrency,
          conns: Array.from({ length: n }, () => ({
            role: 'subscriber' as const,
            channel: `${PREFIX}/#`,
            qos: 0 as const,
            deferSubscribe: true,
          })),
        }),
      ),
    );
    const failed = results.reduce((n, r) => n + r.failed, 0);
    if (failed > 0)
      throw new Error(`${failed} subscribers failed: ${results.find((r) => r.failed)?.firstError}`);
    const before = await pool.totals();
    await pool.mark();
    const coordinatorCpu = process.cpuUsage();
    const watch = new ResourceWatch(ctx.server);
    const started = performance.now();
    const subscribed = await pool.all<SubscribeResult>({
      op: 'subscribeDeferred',
      expect: o.topics,
      timeoutMs: TIMEOUT_MS,
    });
    const wallMicros = (performance.now() - started) * 1000;
    const reports = await pool.reports();
    const use: ResourceUse = watch.stop();
    const own = process.cpuUsage(coordinatorCpu);
    const after = await pool.totals();
    await pool.all({ op: 'closeAll' });
    serverPeakRssKiB = Math.max(serverPeakRssKiB, use.peakRssKiB);

    const start = Math.min(...subscribed.map((s) => s.startMicros));
    const done = Math.max(...subscribed.map((s) => s.doneMicros));
    const complete = subscribed.reduce((n, s) => n + s.complete, 0);
    const ms = (done - start) / 1000;
    const expected = o.topics * o.subscribers;
    let generatorMicros = own.user + own.system;
    let generatorSystemMicros = own.system;
    let busiest = 0;
    for (const r of reports) {
      generatorMicros += r.cpuMicros;
      generatorSystemMicros += r.cpuSystemMicros;
      busiest = Math.max(busiest, r.cpuMicros / (r.elapsedMs * 1000));
    }
    const generatorCpu = generatorMicros / wallMicros;
    rounds.push({
      ms,
      messagesPerSec: complete === o.subscribers ? expected / (ms / 1000) : Number.NaN,
      expected,
      received: after.delivered - before.delivered,
      complete,
      anomalies: after.anomalies - before.anomalies,
      serverCpu: use.cpuShare,
      generatorCpu,
      generatorSystemCpu: generatorSystemMicros / wallMicros,
      coreBusy: use.coreBusy,
      otherCpu: Math.max(
        0,
        use.coreBusy.reduce((a, b) => a + b, 0) - use.irqShare - use.cpuShare - generatorCpu,
      ),
      generatorBusiestCpu: busiest,
      wallMs: wallMicros / 1000,
    });
    ctx.log(
      `round ${round + 1}: ${complete} of ${o.subscribers} subscribers complete in ${ms.toFixed(1)} ms` +
        ` (${after.delivered - before.delivered} of ${expected} messages)`,
    );
  }
  const sorted = [...rounds].sort(
    (a, b) => (complete(a) ? a.ms : Infinity) - (complete(b) ? b.ms : Infinity),
  );
  return {
    topics: o.topics,
    subscribers: o.subscribers,
    payloadSize: o.payloadSize,
    storeMs,
    serverIdleRssKiB,
    rssAfterStoreKiB,
    serverPeakRssKiB,
    rounds,
    median: sorted[Math.floor((sorted.length - 1) / 2)] as RetainedRound, // --retained-rounds >= 1
    load: overall(rounds),
  };

  function complete(r: RetainedRound): boolean {
    return r.complete === o.subscribers;
  }
}

/** The rounds' CPU shares averaged, each weighted by its length. */
function overall(rounds: RetainedRound[]): RetainedLoad {
  const wall = rounds.reduce((n, r) => n + r.wallMs, 0) || 1;
  const mean = (pick: (r: RetainedRound) => number): number =>
    rounds.reduce((n, r) => n + pick(r) * r.wallMs, 0) / wall;
  const cores = Math.max(0, ...rounds.map((r) => r.coreBusy.length));
  return {
    serverCpu: mean((r) => r.serverCpu),
    generatorCpu: mean((r) => r.generatorCpu),
    generatorSystemCpu: mean((r) => r.generatorSystemCpu),
    generatorBusiestCpu: mean((r) => r.generatorBusiestCpu),
    coreBusy: Array.from({ length: cores }, (_, i) => mean((r) => r.coreBusy[i] ?? 0)),
    otherCpu: mean((r) => r.otherCpu),
  };
}
