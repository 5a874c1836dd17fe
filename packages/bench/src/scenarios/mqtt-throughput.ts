import type { Qos } from '../generator/mqtt-packets.js';
import type { ConnectResult } from '../generator/protocol.js';
import { sleep } from '../targets/server-process.js';
import type { ScenarioContext } from './context.js';
import type { DeliveryCheck } from './fanout.js';
import { drain, type Measurement, measureQuiet } from './measure.js';

export interface MqttThroughputOptions {
  /** m1, or d1: persistent sessions (clean session 0, fixed client ids), each run on a fresh server. */
  scenario: 'm1' | 'd1';
  payloadSize: number;
  /**
   * Publications outstanding (not yet received, or for QoS 1/2 not yet acknowledged), one run
   * each; the best run of each QoS counts.
   */
  windows: number[];
  qosLevels: Qos[];
  /** Sleep between event-loop turns of the generator process, in ms (0 = read per wake-up). */
  napMs: number;
}

/** What arrived, and (QoS 1/2) what the broker acknowledged to the publisher. */
export interface MqttCheck extends DeliveryCheck {
  /** Publications written by the publisher. */
  sent: number;
  /** QoS 1/2: publications whose PUBACK (or PUBREC … PUBCOMP) arrived; equals `sent` when all did. */
  acked: number;
  /** Unknown packet ids, duplicates, unexpected packets (0 when the broker behaved). */
  anomalies: number;
}

export interface QosRun {
  qos: Qos;
  window: number;
  result: Measurement;
  check: MqttCheck;
}

export interface MqttThroughputResult {
  payloadSize: number;
  windows: number[];
  napMs: number;
  serverIdleRssKiB: number;
  /** Every run, by QoS then window. */
  runs: QosRun[];
  /** The run with the most messages/s, per QoS. */
  best: QosRun[];
}

/**
 * Scenario (m1): one MQTT publisher → one subscriber on one topic, at QoS 0, 1 and 2 (publication
 * and subscription at the same QoS), once per window, each run on fresh connections. Both clients
 * live in generator process 0, which sleeps `napMs` between event-loop turns: the publisher keeps
 * `window` publications outstanding, the subscriber acknowledges QoS 1/2 deliveries and records the
 * latency of each.
 *
 * Scenario (d1) is the same at QoS 1 and 2 with persistent sessions for both clients, so that a
 * broker with storage stores every message for the subscriber until it is acknowledged and, at
 * QoS 2, the publisher's packet id until PUBREL. Each run has a fresh server with empty storage
 * (the first is the one the scenario starts with).
 */
export async function runMqttThroughput(
  ctx: ScenarioContext,
  o: MqttThroughputOptions,
): Promise<MqttThroughputResult> {
  const serverIdleRssKiB = ctx.server.rssKiB();
  const runs: QosRun[] = [];
  const best: QosRun[] = [];
  for (const qos of o.qosLevels) {
    for (const window of o.windows) {
      if (o.scenario === 'd1' && runs.length > 0) await ctx.restart();
      runs.push(await runOne(ctx, o, qos, window));
    }
    best.push(
      runs
        .filter((r) => r.qos === qos)
        .reduce((a, b) => (b.result.deliveriesPerSec > a.result.deliveriesPerSec ? b : a)),
    );
  }
  return { payloadSize: o.payloadSize, windows: o.windows, napMs: o.napMs, serverIdleRssKiB, runs, best };
}

async function runOne(
  ctx: ScenarioContext,
  o: MqttThroughputOptions,
  qos: Qos,
  window: number,
): Promise<QosRun> {
  const { pool } = ctx;
  const topic = `bench/${o.scenario}/qos${qos}`;
  const persistentId = (role: string) => (o.scenario === 'd1' ? `bench-d1-${role}` : undefined);
  const opened = await pool.request<ConnectResult>(0, {
    op: 'connect',
    host: ctx.host,
    port: ctx.port,
    target: ctx.target,
    protocol: 'mqtt',
    concurrency: 1,
    conns: [
      {
        key: 'sub',
        role: 'subscriber',
        channel: topic,
        qos,
        sample: 'latency',
        persistentId: persistentId('sub'),
      },
      { key: 'pub', role: 'publisher', channel: topic, persistentId: persistentId('pub') },
    ],
  });
  if (opened.failed > 0) throw new Error(`QoS ${qos}: connection failed: ${opened.firstError}`);
  if (o.napMs > 0) await pool.request(0, { op: 'nap', ms: o.napMs });
  const before = await pool.totals();
  await pool.request(0, {
    op: 'startLoops',
    loops: [
      {
        publisher: 'pub',
        lead: 'sub',
        payloadSize: o.payloadSize,
        qos,
        pacing: { kind: 'window', window },
      },
    ],
  });
  await sleep(ctx.warmupMs);
  const result = await measureQuiet(pool, ctx.server, ctx.measureMs, ctx.log);
  await pool.request(0, { op: 'stopLoops' });
  // Until every publication has arrived and (QoS 1/2) completed its handshake, or 5 s went by.
  const after = await drain(pool, 5000, (t) => {
    const sent = t.sent - before.sent;
    return t.delivered - before.delivered >= sent && (qos === 0 || t.acked - before.acked >= sent);
  });
  await pool.all({ op: 'closeAll' });
  const sent = after.sent - before.sent;
  const check: MqttCheck = {
    expected: sent,
    received: after.delivered - before.delivered,
    sent,
    acked: qos > 0 ? after.acked - before.acked : sent,
    anomalies: after.anomalies - before.anomalies,
  };
  ctx.log(
    `QoS ${qos}, window ${window}: ${Math.round(result.deliveriesPerSec).toLocaleString('en-US')} messages/s` +
      (check.received !== check.expected ? ` (${check.received} of ${check.expected} received)` : '') +
      (check.acked !== sent ? ` (${check.acked} of ${sent} acknowledged)` : '') +
      (check.anomalies > 0 ? ` (${check.anomalies} anomalies)` : ''),
  );
  return { qos, window, result, check };
}
