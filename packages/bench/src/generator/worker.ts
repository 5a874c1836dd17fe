/**
 * One load-generator process: holds raw WebSocket connections and publish loops, and answers the
 * coordinator over IPC. Started by GeneratorPool with child_process.fork.
 */
import { DIALECTS, type WsTargetName } from '../dialects/index.js';
import { Connection, connect } from './connection.js';
import type { Tally } from './dialect.js';
import { LatencySamples, nowMicros } from './marker.js';
import { connectMqtt, MqttClient } from './mqtt-client.js';
import { MqttPublishLoop, publishRetained } from './mqtt-loop.js';
import {
  type ConnectResult,
  type ConnSpec,
  KEEPALIVE_MS,
  type Reply,
  type Report,
  type Request,
  type SubscribeResult,
  type Totals,
} from './protocol.js';
import { PublishLoop } from './publish-loop.js';
import { OPCODE_PING } from './ws-frames.js';

const tally: Tally = { delivered: 0, closed: 0 };
const samples = new LatencySamples();
const lastSamples = new LatencySamples();
const conns: (Connection | MqttClient)[] = [];
const byKey = new Map<string, Connection | MqttClient>();
/** Running loops, and every loop since the last closeAll (MQTT acks keep arriving after a stop). */
let loops: (PublishLoop | MqttPublishLoop)[] = [];
let allLoops: (PublishLoop | MqttPublishLoop)[] = [];
let stoppedSent = 0;
let stoppedStalls = 0;
let stoppedAcked = 0;
let stoppedAnomalies = 0;
let nextClientId = 0;
let napMs = 0;
const napCell = new Int32Array(new SharedArrayBuffer(4));
function nap(): void {
  if (napMs === 0) return;
  Atomics.wait(napCell, 0, 0, napMs);
  setImmediate(nap);
}
let mark = { at: performance.now(), cpu: process.cpuUsage(), totals: totals() };

function totals(): Totals {
  let sent = stoppedSent;
  let stalls = stoppedStalls;
  let acked = stoppedAcked;
  let anomalies = stoppedAnomalies;
  for (const loop of allLoops) {
    sent += loop.sent;
    stalls += loop.stalls;
    if (loop instanceof MqttPublishLoop) acked += loop.acked;
  }
  for (const conn of conns) if (conn instanceof MqttClient) anomalies += conn.anomalies;
  return { delivered: tally.delivered, sent, closed: tally.closed, stalls, acked, anomalies };
}

async function openAll(req: Extract<Request, { op: 'connect' }>): Promise<ConnectResult> {
  const mqtt = req.protocol === 'mqtt';
  const dialect = DIALECTS[req.target as WsTargetName];
  if (!mqtt && !dialect) throw new Error(`unknown target ${req.target}`);
  const result: ConnectResult = { opened: 0, failed: 0, firstError: null };
  let next = 0;
  const openOne = async (spec: ConnSpec): Promise<void> => {
    const sampleInto = spec.sample === 'latency' ? samples : spec.sample === 'last' ? lastSamples : null;
    try {
      const conn = mqtt
        ? await connectMqtt({
            host: req.host,
            port: req.port,
            clientId: spec.persistentId ?? `bench-${process.pid}-${nextClientId++}`,
            cleanSession: spec.persistentId === undefined,
            role: spec.role,
            topic: spec.channel,
            qos: spec.qos ?? 0,
            deferSubscribe: spec.deferSubscribe,
            tally,
            samples: sampleInto,
          })
        : await connect({
            host: req.host,
            port: req.port,
            dialect,
            role: spec.role,
            channel: spec.channel,
            tally,
            samples: sampleInto,
          });
      conns.push(conn);
      if (spec.key) byKey.set(spec.key, conn);
      result.opened++;
    } catch (err) {
      result.failed++;
      result.firstError ??= (err as Error).message;
    }
  };
  const lane = async (): Promise<void> => {
    while (next < req.conns.length) await openOne(req.conns[next++] as ConnSpec); // next < length, just checked
  };
  await Promise.all(Array.from({ length: Math.min(req.concurrency, req.conns.length) }, lane));
  return result;
}

function connection(key: string): Connection {
  const conn = byKey.get(key);
  if (!(conn instanceof Connection)) throw new Error(`no WebSocket connection ${key}`);
  return conn;
}

function mqttClient(key: string): MqttClient {
  const conn = byKey.get(key);
  if (!(conn instanceof MqttClient)) throw new Error(`no MQTT connection ${key}`);
  return conn;
}

/** Subscribes every deferred MQTT subscriber of this process at once and waits for `expect` each. */
function subscribeDeferred(expect: number, timeoutMs: number): Promise<SubscribeResult> {
  const clients = conns.filter(
    (c): c is MqttClient => c instanceof MqttClient && c.role === 'subscriber' && c.subscribedAt === 0,
  );
  return new Promise((resolve) => {
    let complete = 0;
    const startMicros = nowMicros();
    const done = (): void => {
      clearTimeout(timer);
      let doneMicros = startMicros;
      let received = 0;
      for (const c of clients) {
        received += c.count;
        c.onDone = null;
        if (c.doneAt > doneMicros) doneMicros = c.doneAt;
      }
      resolve({ clients: clients.length, complete, received, startMicros, doneMicros });
    };
    const timer = setTimeout(done, timeoutMs);
    for (const c of clients) {
      c.expect = c.count + expect;
      c.onDone = () => {
        if (++complete === clients.length) done();
      };
    }
    for (const c of clients) c.subscribe();
    if (clients.length === 0) done();
  });
}

async function handle(req: Request): Promise<unknown> {
  switch (req.op) {
    case 'connect':
      return openAll(req);
    case 'startLoops':
      for (const spec of req.loops) {
        let loop: PublishLoop | MqttPublishLoop;
        if (byKey.get(spec.publisher) instanceof MqttClient) {
          const lead = spec.lead ? mqttClient(spec.lead) : null;
          loop = new MqttPublishLoop(
            mqttClient(spec.publisher),
            lead,
            spec.payloadSize,
            spec.qos ?? 0,
            spec.pacing,
          );
        } else {
          const publisher = connection(spec.publisher);
          const lead = spec.lead ? connection(spec.lead) : null;
          loop = new PublishLoop(publisher, lead, publisher.dialect, spec.payloadSize, spec.pacing);
        }
        loops.push(loop);
        allLoops.push(loop);
        loop.start();
      }
      return null;
    case 'stopLoops':
      for (const loop of loops) loop.stop();
      loops = [];
      return null;
    case 'retain':
      await publishRetained(mqttClient(req.publisher), req.prefix, req.count, req.payloadSize, req.window);
      return null;
    case 'subscribeDeferred':
      return subscribeDeferred(req.expect, req.timeoutMs);
    case 'nap': {
      const wasNapping = napMs > 0;
      napMs = req.ms;
      if (!wasNapping && napMs > 0) setImmediate(nap);
      return null;
    }
    case 'mark':
      samples.clear();
      lastSamples.clear();
      mark = { at: performance.now(), cpu: process.cpuUsage(), totals: totals() };
      return null;
    case 'report': {
      const now = totals();
      const cpu = process.cpuUsage(mark.cpu);
      const report: Report = {
        delivered: now.delivered - mark.totals.delivered,
        sent: now.sent - mark.totals.sent,
        closed: now.closed - mark.totals.closed,
        stalls: now.stalls - mark.totals.stalls,
        acked: now.acked - mark.totals.acked,
        anomalies: now.anomalies - mark.totals.anomalies,
        elapsedMs: performance.now() - mark.at,
        cpuMicros: cpu.user + cpu.system,
        cpuSystemMicros: cpu.system,
        samples: samples.toArray(),
        lastSamples: lastSamples.toArray(),
      };
      return report;
    }
    case 'totals':
      return totals();
    case 'closeAll':
      napMs = 0;
      for (const loop of loops) loop.stop();
      {
        const t = totals();
        stoppedSent = t.sent;
        stoppedStalls = t.stalls;
        stoppedAcked = t.acked;
        stoppedAnomalies = t.anomalies;
      }
      loops = [];
      allLoops = [];
      for (const conn of conns) conn.close();
      conns.length = 0;
      byKey.clear();
      return null;
  }
}

process.on('message', (msg: { id: number; req: Request }) => {
  handle(msg.req).then(
    (result) => process.send!({ id: msg.id, ok: true, result } satisfies Reply),
    (err: Error) => process.send!({ id: msg.id, ok: false, error: err.message } satisfies Reply),
  );
});
process.on('disconnect', () => process.exit(0));

/**
 * Subscribers never speak, and a server may take a silent client for dead (Pulse pings after 30 s
 * and closes after 60 s). A WebSocket ping every 15 s keeps every connection alive; the pong is a
 * control frame, never counted.
 */
setInterval(() => {
  for (const conn of conns) {
    if (conn instanceof MqttClient) conn.ping();
    else if (conn.ready) conn.sendMessage(OPCODE_PING, '');
  }
}, KEEPALIVE_MS).unref();
