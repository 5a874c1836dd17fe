/**
 * One load-generator process: holds raw WebSocket connections and publish loops, and answers the
 * coordinator over IPC. Started by GeneratorPool with child_process.fork.
 */
import { DIALECTS, type TargetName } from '../dialects/index.js';
import { type Connection, connect } from './connection.js';
import type { Tally } from './dialect.js';
import { LatencySamples } from './marker.js';
import type { ConnectResult, ConnSpec, Reply, Report, Request, Totals } from './protocol.js';
import { PublishLoop } from './publish-loop.js';
import { OPCODE_PING } from './ws-frames.js';

const KEEPALIVE_MS = 15_000;

const tally: Tally = { delivered: 0, closed: 0 };
const samples = new LatencySamples();
const lastSamples = new LatencySamples();
const conns: Connection[] = [];
const byKey = new Map<string, Connection>();
let loops: PublishLoop[] = [];
let stoppedSent = 0;
let stoppedStalls = 0;
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
  for (const loop of loops) {
    sent += loop.sent;
    stalls += loop.stalls;
  }
  return { delivered: tally.delivered, sent, closed: tally.closed, stalls };
}

async function openAll(req: Extract<Request, { op: 'connect' }>): Promise<ConnectResult> {
  const dialect = DIALECTS[req.target as TargetName];
  if (!dialect) throw new Error(`unknown target ${req.target}`);
  const result: ConnectResult = { opened: 0, failed: 0, firstError: null };
  let next = 0;
  const openOne = async (spec: ConnSpec): Promise<void> => {
    try {
      const conn = await connect({
        host: req.host,
        port: req.port,
        dialect,
        role: spec.role,
        channel: spec.channel,
        tally,
        samples: spec.sample === 'latency' ? samples : spec.sample === 'last' ? lastSamples : null,
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
    while (next < req.conns.length) await openOne(req.conns[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(req.concurrency, req.conns.length) }, lane));
  return result;
}

function connection(key: string): Connection {
  const conn = byKey.get(key);
  if (!conn) throw new Error(`no connection ${key}`);
  return conn;
}

async function handle(req: Request): Promise<unknown> {
  switch (req.op) {
    case 'connect':
      return openAll(req);
    case 'startLoops':
      for (const spec of req.loops) {
        const publisher = connection(spec.publisher);
        const lead = spec.lead ? connection(spec.lead) : null;
        const loop = new PublishLoop(publisher, lead, publisher.dialect, spec.payloadSize, spec.pacing);
        loops.push(loop);
        loop.start();
      }
      return null;
    case 'stopLoops':
      for (const loop of loops) {
        loop.stop();
        stoppedSent += loop.sent;
        stoppedStalls += loop.stalls;
      }
      loops = [];
      return null;
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
      loops = [];
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
  for (const conn of conns) if (conn.ready) conn.sendMessage(OPCODE_PING, '');
}, KEEPALIVE_MS).unref();
