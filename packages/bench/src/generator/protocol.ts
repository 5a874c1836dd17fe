/** Messages between the coordinator (run.ts) and generator processes (worker.ts), over fork IPC. */
import type { Role } from './dialect.js';
import type { Qos } from './mqtt-packets.js';
import type { Pacing } from './publish-loop.js';

export interface ConnSpec {
  /** Name for later reference (publish loops); optional for the crowd. */
  key?: string;
  role: Role;
  channel: string;
  /**
   * Record the latency of every publication this connection receives, from its marker: with the
   * subscribers' samples, or apart as the last subscriber's (the fan-out lead).
   */
  sample?: 'latency' | 'last';
  /** MQTT: the subscription's QoS (default 0). */
  qos?: Qos;
  /** MQTT: connect only; subscribe at the `subscribeDeferred` request. */
  deferSubscribe?: boolean;
  /**
   * MQTT: a persistent session (clean session 0) under this client id, which the broker keeps, with
   * the messages in flight to it, across connections. Default: a clean session, a unique id.
   */
  persistentId?: string;
}

export interface LoopSpec {
  publisher: string;
  /** Key of the subscriber whose count paces a closed loop. */
  lead: string | null;
  payloadSize: number;
  pacing: Pacing;
  /** MQTT publishers: the QoS to publish at (default 0). */
  qos?: Qos;
}

export type Request =
  | {
      op: 'connect';
      host: string;
      port: number;
      target: string;
      /** WebSocket with the target's dialect (default), or MQTT 3.1.1 over TCP. */
      protocol?: 'ws' | 'mqtt';
      conns: ConnSpec[];
      /** Handshakes in flight at once. */
      concurrency: number;
    }
  | { op: 'startLoops'; loops: LoopSpec[] }
  | { op: 'stopLoops' }
  /** MQTT: store `count` retained messages on `${prefix}/0` … at QoS 1; resolves once all are acked. */
  | { op: 'retain'; publisher: string; prefix: string; count: number; payloadSize: number; window: number }
  /**
   * MQTT: every deferred subscriber of the process subscribes now; resolves once each has received
   * `expect` publications, or after `timeoutMs`.
   */
  | { op: 'subscribeDeferred'; expect: number; timeoutMs: number }
  /**
   * Sleep `ms` between event-loop turns (0 = never): each turn then reads everything that arrived
   * on every socket at once, instead of waking up per segment. Only for processes whose connections
   * just count; the kernel keeps receiving (and acknowledging) while the process sleeps.
   */
  | { op: 'nap'; ms: number }
  | { op: 'mark' }
  | { op: 'report' }
  | { op: 'totals' }
  | { op: 'closeAll' };

export interface ConnectResult {
  opened: number;
  failed: number;
  firstError: string | null;
}

export interface Totals {
  delivered: number;
  sent: number;
  closed: number;
  stalls: number;
  /** MQTT QoS 1/2 publications whose handshake with the broker completed. */
  acked: number;
  /** MQTT packets that made no sense (unknown packet ids, duplicates, unexpected packets). */
  anomalies: number;
}

/** What `subscribeDeferred` saw in one process (times on the shared monotonic clock, µs). */
export interface SubscribeResult {
  clients: number;
  /** How many received all `expect` publications. */
  complete: number;
  received: number;
  /** When the first SUBSCRIBE was written, and when the last complete client completed. */
  startMicros: number;
  doneMicros: number;
}

/** Everything since the last `mark`. */
export interface Report extends Totals {
  elapsedMs: number;
  /** User + system CPU time this process spent, in microseconds. */
  cpuMicros: number;
  /** The system (kernel) part of it. */
  cpuSystemMicros: number;
  /** Latency samples in microseconds. */
  samples: number[];
  /** Latency samples of the last subscriber, in microseconds. */
  lastSamples: number[];
}

export type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

/** Generator clients' WebSocket ping / MQTT PINGREQ period (MQTT clients announce a 60 s keep alive). */
export const KEEPALIVE_MS = 15_000;
