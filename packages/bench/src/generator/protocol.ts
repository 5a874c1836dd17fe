/** Messages between the coordinator (run.ts) and generator processes (worker.ts), over fork IPC. */
import type { Role } from './dialect.js';
import type { Pacing } from './publish-loop.js';

export interface ConnSpec {
  /** Name for later reference (publish loops); optional for the crowd. */
  key?: string;
  role: Role;
  channel: string;
  /** Record latency from the marker of every publication this connection receives. */
  sample?: boolean;
}

export interface LoopSpec {
  publisher: string;
  /** Key of the subscriber whose count paces a closed loop. */
  lead: string | null;
  payloadSize: number;
  pacing: Pacing;
}

export type Request =
  | {
      op: 'connect';
      host: string;
      port: number;
      target: string;
      conns: ConnSpec[];
      /** Handshakes in flight at once. */
      concurrency: number;
    }
  | { op: 'startLoops'; loops: LoopSpec[] }
  | { op: 'stopLoops' }
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
}

/** Everything since the last `mark`. */
export interface Report extends Totals {
  elapsedMs: number;
  /** User + system CPU time this process spent, in microseconds. */
  cpuMicros: number;
  /** Latency samples in microseconds. */
  samples: number[];
}

export type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };
