import type { ScenarioName } from './args.js';
import type { L1Target, L2Target, L3Run } from './lockstep-targets.js';
import type { TargetName } from './dialects/index.js';
import type { ClusterRun } from './scenarios/cluster-context.js';
import type { FanoutResult } from './scenarios/fanout.js';
import type { IdleResult } from './scenarios/idle.js';
import type { LockstepResult } from './scenarios/lockstep.js';
import type { LowLoadRun } from './scenarios/low-load.js';
import type { ManyDevicesResult } from './scenarios/many-devices.js';
import type { MicroResult } from './scenarios/micro.js';
import type { MqttRetainedResult } from './scenarios/mqtt-retained.js';
import type { MqttThroughputResult } from './scenarios/mqtt-throughput.js';
import type { PairsResult } from './scenarios/pairs.js';
import type { ClusterSetupName } from './targets/cluster-launch.js';

/** A scenario's result for one target, or why there is none. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: string };

export interface TargetResults {
  a?: Outcome<FanoutResult>;
  b?: Outcome<PairsResult>;
  c?: Outcome<IdleResult>;
  /** (c) over MQTT 3.1.1: idle connections, each subscribed to a topic of its own. */
  c2?: Outcome<IdleResult>;
  /** MQTT 1 → 1 at QoS 0, 1, 2. */
  m1?: Outcome<MqttThroughputResult>;
  /** MQTT fan-out, QoS 0. */
  m2?: Outcome<FanoutResult>;
  /** MQTT retained messages to many new subscribers. */
  m3?: Outcome<MqttRetainedResult>;
  /** m1 with persistent sessions, QoS 1 and 2, on each storage. */
  d1?: Outcome<MqttThroughputResult>;
}

/** A cluster scenario's runs, by setup. */
export type ClusterResults = Partial<Record<ClusterSetupName, Outcome<ClusterRun>>>;

/** The lock-step section: l1 by target, l2 by target, l3 by protocol and target. */
export interface LockstepResults {
  l1?: Partial<Record<L1Target, Outcome<LockstepResult>>>;
  l2?: Partial<Record<L2Target, Outcome<ManyDevicesResult>>>;
  l3?: Partial<Record<L3Run, Outcome<LowLoadRun>>>;
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
  mqttPayloadSize: number;
  mqttWindows: number[];
  mqttNapMs: number;
  retainedTopics: number;
  retainedSubscribers: number;
  retainedRounds: number;
  /** x1 / x2 (absent from records older than them). */
  clusterSubscribers?: number;
  clusterWindow?: number;
  clusterPayloadSize?: number;
  /** l1-l3 (absent from records older than them). */
  lockstepCount?: number;
  lockstepReps?: number;
  devices?: number;
  devicesRounds?: number;
  /** l2's unmeasured run first, publications per device (absent from records older than it). */
  devicesWarmupRounds?: number;
  lowLoadRate?: number;
  lowLoadReps?: number;
  placement: string;
  /** File system of the directory d1's stores live in (fsync on tmpfs would be free). */
  dataFs?: string;
  /** CPUs the generator processes may run on (1 when pinned on a two-core machine). */
  generatorCores: number;
  durationSec: number;
}

export interface BenchResults {
  settings: RunSettings;
  micro?: Outcome<MicroResult>;
  targets: Partial<Record<TargetName, TargetResults>>;
  /** Cluster fan-out (x1) and lock-step (x2). */
  cluster?: { x1?: ClusterResults; x2?: ClusterResults };
  /** Messages that travel alone: lock-step (l1), many devices (l2), low-load latency (l3). */
  lockstep?: LockstepResults;
}
