import type { ScenarioName } from './args.js';
import type { TargetName } from './dialects/index.js';
import type { FanoutResult } from './scenarios/fanout.js';
import type { IdleResult } from './scenarios/idle.js';
import type { MicroResult } from './scenarios/micro.js';
import type { PairsResult } from './scenarios/pairs.js';

/** A scenario's result for one target, or why there is none. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: string };

export interface TargetResults {
  a?: Outcome<FanoutResult>;
  b?: Outcome<PairsResult>;
  c?: Outcome<IdleResult>;
}

export interface RunSettings {
  command: string;
  date: string;
  node: string;
  machine: string;
  scenarios: ScenarioName[];
  targets: TargetName[];
  procs: number;
  warmupMs: number;
  measureMs: number;
  payloadSize: number;
  subscribers: number;
  fanoutWindows: number[];
  openLoopFractions: number[];
  pairs: number;
  pairWindow: number;
  idleConnections: number;
  natsProcs: number;
  placement: string;
  durationSec: number;
}

export interface BenchResults {
  settings: RunSettings;
  micro?: Outcome<MicroResult>;
  targets: Partial<Record<TargetName, TargetResults>>;
}
