import { parseArgs } from 'node:util';
import { DURABLE_TARGET_NAMES, TARGET_NAMES, type TargetName } from './dialects/index.js';
import { CLUSTER_SETUP_NAMES, type ClusterSetupName } from './targets/cluster-launch.js';

export const SCENARIO_NAMES = [
  'micro',
  'a',
  'b',
  'c',
  'c2',
  'm1',
  'm2',
  'm3',
  'd1',
  'x1',
  'x2',
  'l1',
  'l2',
  'l3',
] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

const SCENARIO_ALIASES: Record<string, ScenarioName> = {
  micro: 'micro',
  codec: 'micro',
  a: 'a',
  fanout: 'a',
  'fan-out': 'a',
  b: 'b',
  pairs: 'b',
  c: 'c',
  idle: 'c',
  c2: 'c2',
  'idle-mqtt': 'c2',
  m1: 'm1',
  'mqtt-throughput': 'm1',
  m2: 'm2',
  'mqtt-fanout': 'm2',
  m3: 'm3',
  'mqtt-retained': 'm3',
  retained: 'm3',
  d1: 'd1',
  durable: 'd1',
  'mqtt-durable': 'd1',
  x1: 'x1',
  'cluster-fanout': 'x1',
  x2: 'x2',
  'cluster-lockstep': 'x2',
  l1: 'l1',
  'mqtt-lockstep': 'l1',
  l2: 'l2',
  'many-devices': 'l2',
  devices: 'l2',
  l3: 'l3',
  'low-load': 'l3',
  'low-load-latency': 'l3',
};

/** Groups `--only` also takes. */
const SCENARIO_GROUPS: Record<string, ScenarioName[]> = {
  ws: ['a', 'b', 'c'],
  mqtt: ['c2', 'm1', 'm2', 'm3'],
  cluster: ['x1', 'x2'],
  lockstep: ['l1', 'l2', 'l3'],
};

const CLUSTER_SETUP_ALIASES: Record<string, ClusterSetupName> = Object.fromEntries(
  CLUSTER_SETUP_NAMES.map((n) => [n, n]),
);

/** Names `--cluster-setups` takes for several setups. */
const CLUSTER_SETUP_GROUPS: Record<string, ClusterSetupName[]> = {
  pulse: ['pulse-1', 'pulse-nats', 'pulse-redis', 'pulse-workers'],
  socketio: ['socketio-redis'],
  nats: ['nats-1', 'nats-routes'],
};

const TARGET_ALIASES: Record<string, TargetName> = {
  pulse: 'pulse',
  'naive-ws': 'naive-ws',
  naive: 'naive-ws',
  ws: 'naive-ws',
  socketio: 'socketio',
  'socket.io': 'socketio',
  sio: 'socketio',
  nats: 'nats',
  'nats-server': 'nats',
  'mosquitto-default': 'mosquitto',
  'mosquitto-nagle': 'mosquitto',
  'mosquitto-nodelay': 'mosquitto-nodelay',
  aedes: 'aedes',
  'pulse-sqlite-strict': 'pulse-sqlite-strict',
  'pulse-sqlite-balanced': 'pulse-sqlite-balanced',
  'pulse-sqlite-fast': 'pulse-sqlite-fast',
  'mosquitto-persist': 'mosquitto-persist',
  'mosquitto-persist-eager': 'mosquitto-persist-eager',
  'mqtt-relay': 'mqtt-relay',
  relay: 'mqtt-relay',
};

/** Names `--targets` takes for several targets. */
const TARGET_GROUPS: Record<string, TargetName[]> = {
  mosquitto: ['mosquitto', 'mosquitto-nodelay'],
  'pulse-sqlite': ['pulse-sqlite-strict', 'pulse-sqlite-balanced', 'pulse-sqlite-fast'],
  durable: [...DURABLE_TARGET_NAMES],
};

export interface BenchOptions {
  scenarios: ScenarioName[];
  targets: TargetName[];
  quick: boolean;
  /** Generator processes. */
  procs: number;
  host: string;
  warmupMs: number;
  measureMs: number;
  payloadSize: number;
  subscribers: number;
  /** Closed-loop window sizes the fan-out max-rate search tries. */
  fanoutWindows: number[];
  /** Open-loop fan-out rates, as fractions of the max publication rate (0.5 is the bar's). */
  openLoopFractions: number[];
  pairs: number;
  pairWindow: number;
  idleConnections: number;
  natsProcs: number;
  /** Sleep between event-loop turns of the fan-out crowd processes, in ms (0 = read per wake-up). */
  crowdNapMs: number;
  /** The same for the pair processes other than the sampling one. */
  pairNapMs: number;
  /** MQTT publication payload bytes (m1, m2, m3). */
  mqttPayloadSize: number;
  /** Publications outstanding in the MQTT 1 → 1 runs (m1), one run each; the best counts. */
  mqttWindows: number[];
  /** Sleep between event-loop turns of the m1 generator process, in ms (0 = read per wake-up). */
  mqttNapMs: number;
  /** QoS levels m1 runs (d1 runs those above 0). */
  mqttQos: (0 | 1 | 2)[];
  /** Retained topics (m3) and the clients that subscribe to them all. */
  retainedTopics: number;
  retainedSubscribers: number;
  /** Rounds of m3 (fresh subscribers each); the median counts. */
  retainedRounds: number;
  /** The cluster scenarios' setups (x1, x2). */
  clusterSetups: ClusterSetupName[];
  /** x1: subscribers in all, split over the nodes. */
  clusterSubscribers: number;
  /** x1: publications in flight. */
  clusterWindow: number;
  /** x1 and x2: publication payload bytes. */
  clusterPayloadSize: number;
  /** l1: publications per run, and runs per QoS (the median counts). */
  lockstepCount: number;
  lockstepReps: number;
  /** l2: devices, and rounds of one publication each per 100 ms. */
  devices: number;
  devicesRounds: number;
  /** l2: publications per device in the unmeasured run before it. */
  devicesWarmupRounds: number;
  /** l3: publications per second. */
  lowLoadRate: number;
  /** l3 rounds: every l3 target once per round, rounds one after another; medians count. */
  lowLoadReps: number;
  /** Pin servers to CPU 0 and the generator to the other CPUs (needs ≥ 2 CPUs and taskset). */
  pin: boolean;
  /** Write the table into the doc (null: only for a full run). */
  write: boolean | null;
  doc: string | null;
  /** The arguments as given, for the record. */
  argv: string[];
}

export const USAGE = `Usage: npm run bench -- [options]

  --only LIST          scenarios: micro,a,b,c,m1,m2,m3,d1,x1,x2,l1,l2,l3 (or codec,fanout,pairs,
                       idle,mqtt-throughput,mqtt-fanout,mqtt-retained,durable,cluster-fanout,
                       cluster-lockstep,mqtt-lockstep,many-devices,low-load; groups ws = a,b,c,
                       mqtt = m1,m2,m3, cluster = x1,x2, lockstep = l1,l2,l3); default all
  --targets LIST       pulse,naive-ws,socketio,nats,mosquitto,aedes,pulse-sqlite-strict,
                       pulse-sqlite-balanced,pulse-sqlite-fast,mosquitto-persist,
                       mosquitto-persist-eager, mqtt-relay (l3's Node floor; aliases ws,
                       socket.io, nats-server, relay; groups
                       pulse-sqlite = the three policies, durable = d1's six); default all.
                       a-c run on pulse,naive-ws,socketio,nats, m1-m3 on pulse,mosquitto,aedes,
                       d1 on pulse (in memory) and the durable targets. mosquitto is two
                       targets: its defaults (mosquitto-default, Nagle on) and mosquitto-nodelay
                       (set_tcp_nodelay true)
  --quick              short windows (0.3 s warm-up, 1 s measure) and 2,000 idle connections
  --procs N            load-generator processes (default 2)
  --warmup-ms N        warm-up before each measured window (default 1000)
  --measure-ms N       length of each measured window (default 3000)
  --payload N          publication payload bytes (default 64)
  --subscribers N      fan-out subscribers (default 1000)
  --windows LIST       fan-out publications in flight, one max-rate run each; the best counts (default 4,16,64,256)
  --rates LIST         open-loop fan-out rates as fractions of the max (default 0.5,0.1)
  --pairs N            publisher/subscriber pairs (default 100)
  --pair-window N      publications in flight per pair (default 64)
  --idle N             idle connections (default 10000; 2000 with --quick)
  --nap-ms N           fan-out crowd processes read every N ms instead of per wake-up (default 10, 0 = off)
  --pair-nap-ms N      the same for pair processes other than the sampling one (default 2)
  --nats-procs N       GOMAXPROCS for nats-server (default 1: one core, like a Node server)
  --mqtt-payload N     MQTT publication payload bytes (default 128)
  --mqtt-windows LIST  publications outstanding in the MQTT 1 -> 1 runs, one run each, the best
                       counts (m1, d1; default 256,1000; at most 1000)
  --mqtt-nap-ms N      the m1 / d1 generator process sleeps N ms between reads (default 0.2, 0 = off)
  --mqtt-qos LIST      QoS levels m1 runs (default 0,1,2); d1 runs those above 0
  --retained N         retained topics in m3 (default 1000)
  --retained-subs N    clients subscribing to them in m3 (default 100)
  --retained-rounds N  rounds of m3, fresh subscribers each; the median counts (default 5)
  --cluster-setups LIST  x1 / x2 setups: pulse-1,pulse-nats,pulse-redis,pulse-workers,
                       socketio-redis,nats-1,nats-routes (groups pulse, socketio, nats); default all
  --cluster-subs N     x1 subscribers, split over the nodes (default 1000)
  --cluster-window N   x1 publications in flight (default 256)
  --cluster-payload N  x1 and x2 payload bytes (default 128)
  --lockstep-count N   l1 publications per run (default 10000)
  --lockstep-reps N    l1 runs per QoS, the median counts (default 3)
  --devices N          l2 devices, one QoS 1 publication each per 100 ms (default 1000)
  --devices-rounds N   l2 publications per device (default 30: 3 s)
  --devices-warmup N   l2 publications per device in an unmeasured run first (default 30; 0 = none)
  --low-load-rate N    l3 publications per second (default 1000)
  --low-load-reps N    l3 rounds, each running every target once; the median counts (default 3, --quick 1)
  --pin / --no-pin     pin each server to CPU 0 and the generator to the other CPUs (default on)
  --write / --no-write write the table into docs/BENCHMARKS.md (default: only for a full run)
  --doc FILE           write the table into FILE instead
`;

function list<T extends string>(
  raw: string | undefined,
  aliases: Record<string, T>,
  all: readonly T[],
  what: string,
): T[] {
  if (raw === undefined || raw === 'all') return [...all];
  const picked = new Set<T>();
  for (const name of raw.split(',').map((s) => s.trim().toLowerCase())) {
    const canonical = aliases[name];
    if (!canonical) throw new Error(`unknown ${what} "${name}" (expected one of ${all.join(', ')})`);
    picked.add(canonical);
  }
  return all.filter((n) => picked.has(n));
}

/** Like `list`, and a name may also stand for a group. */
function grouped<T extends string>(
  raw: string | undefined,
  aliases: Record<string, T>,
  groups: Record<string, T[]>,
  all: readonly T[],
  what: string,
): T[] {
  if (raw === undefined || raw === 'all') return [...all];
  const picked = new Set<T>();
  for (const name of raw.split(',').map((s) => s.trim().toLowerCase())) {
    const group = groups[name];
    if (group) for (const g of group) picked.add(g);
    else picked.add(list(name, aliases, all, what)[0] as T); // list() names one or throws
  }
  return all.filter((n) => picked.has(n));
}

/** Pulse accepts 1,024 unreleased QoS 2 publications per client (mqtt.receive_maximum), Aedes 1,000. */
function mqttWindows(raw: string | undefined): number[] {
  return (raw ?? '256,1000').split(',').map((w) => {
    const n = int(w.trim(), 0, 'mqtt-windows');
    if (n > 1000) throw new Error(`--mqtt-windows takes windows of at most 1000, got "${w}"`);
    return n;
  });
}

/** l1's publisher numbers its packet ids 1..count: never two in flight with the same id. */
function packetIds(n: number): number {
  if (n > 65535) throw new Error(`--lockstep-count takes at most 65535, got ${n}`);
  return n;
}

function qosLevels(raw: string | undefined): (0 | 1 | 2)[] {
  const levels = (raw ?? '0,1,2').split(',').map((q) => Number(q.trim()));
  for (const q of levels)
    if (q !== 0 && q !== 1 && q !== 2) throw new Error(`--mqtt-qos takes 0, 1 or 2, got "${raw}"`);
  return [...new Set(levels as (0 | 1 | 2)[])].sort();
}

/** A flag's number; NaN for a blank one (Number('') is 0: `--devices-warmup=` must not quietly mean none). */
function numberOf(raw: string): number {
  return raw.trim() === '' ? Number.NaN : Number(raw);
}

function milliseconds(raw: string | undefined, fallback: number, name: string): number {
  if (raw === undefined) return fallback;
  const n = numberOf(raw);
  if (!(n >= 0 && n <= 1000)) throw new Error(`--${name} must be a number of ms in [0, 1000], got "${raw}"`);
  return n;
}

function int(raw: string | undefined, fallback: number, name: string, min = 1): number {
  if (raw === undefined) return fallback;
  const n = numberOf(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}, got "${raw}"`);
  return n;
}

function fractions(raw: string): number[] {
  return raw.split(',').map((f) => {
    const n = Number(f.trim());
    if (!(n > 0 && n <= 1)) throw new Error(`--rates takes fractions in (0, 1], got "${f}"`);
    return n;
  });
}

export function parseBenchArgs(argv: string[]): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      only: { type: 'string' },
      targets: { type: 'string' },
      quick: { type: 'boolean', default: false },
      procs: { type: 'string' },
      host: { type: 'string' },
      'warmup-ms': { type: 'string' },
      'measure-ms': { type: 'string' },
      payload: { type: 'string' },
      subscribers: { type: 'string' },
      windows: { type: 'string' },
      rates: { type: 'string' },
      pairs: { type: 'string' },
      'pair-window': { type: 'string' },
      idle: { type: 'string' },
      'nats-procs': { type: 'string' },
      'mqtt-payload': { type: 'string' },
      'mqtt-windows': { type: 'string' },
      'mqtt-nap-ms': { type: 'string' },
      'mqtt-qos': { type: 'string' },
      retained: { type: 'string' },
      'retained-subs': { type: 'string' },
      'retained-rounds': { type: 'string' },
      'nap-ms': { type: 'string' },
      'cluster-setups': { type: 'string' },
      'cluster-subs': { type: 'string' },
      'cluster-window': { type: 'string' },
      'cluster-payload': { type: 'string' },
      'lockstep-count': { type: 'string' },
      'lockstep-reps': { type: 'string' },
      devices: { type: 'string' },
      'devices-rounds': { type: 'string' },
      'devices-warmup': { type: 'string' },
      'low-load-rate': { type: 'string' },
      'low-load-reps': { type: 'string' },
      pin: { type: 'boolean' },
      'no-pin': { type: 'boolean' },
      'pair-nap-ms': { type: 'string' },
      write: { type: 'boolean' },
      'no-write': { type: 'boolean' },
      doc: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const quick = values.quick ?? false;
  return {
    scenarios: grouped(values.only, SCENARIO_ALIASES, SCENARIO_GROUPS, SCENARIO_NAMES, 'scenario'),
    targets: grouped(values.targets, TARGET_ALIASES, TARGET_GROUPS, TARGET_NAMES, 'target'),
    quick,
    procs: int(values.procs, 2, 'procs'),
    host: values.host ?? '127.0.0.1',
    warmupMs: int(values['warmup-ms'], quick ? 300 : 1000, 'warmup-ms', 0),
    measureMs: int(values['measure-ms'], quick ? 1000 : 3000, 'measure-ms', 100),
    payloadSize: int(values.payload, 64, 'payload', 18),
    subscribers: int(values.subscribers, 1000, 'subscribers', 2),
    fanoutWindows: (values.windows ?? '4,16,64,256').split(',').map((w) => int(w.trim(), 0, 'windows')),
    openLoopFractions: fractions(values.rates ?? '0.5,0.1'),
    pairs: int(values.pairs, 100, 'pairs'),
    pairWindow: int(values['pair-window'], 64, 'pair-window'),
    idleConnections: int(values.idle, quick ? 2000 : 10000, 'idle'),
    natsProcs: int(values['nats-procs'], 1, 'nats-procs'),
    crowdNapMs: int(values['nap-ms'], 10, 'nap-ms', 0),
    pairNapMs: int(values['pair-nap-ms'], 2, 'pair-nap-ms', 0),
    mqttPayloadSize: int(values['mqtt-payload'], 128, 'mqtt-payload', 18),
    mqttWindows: mqttWindows(values['mqtt-windows']),
    mqttNapMs: milliseconds(values['mqtt-nap-ms'], 0.2, 'mqtt-nap-ms'),
    mqttQos: qosLevels(values['mqtt-qos']),
    retainedTopics: int(values.retained, 1000, 'retained'),
    retainedSubscribers: int(values['retained-subs'], 100, 'retained-subs'),
    retainedRounds: int(values['retained-rounds'], 5, 'retained-rounds'),
    clusterSetups: grouped(
      values['cluster-setups'],
      CLUSTER_SETUP_ALIASES,
      CLUSTER_SETUP_GROUPS,
      CLUSTER_SETUP_NAMES,
      'cluster setup',
    ),
    clusterSubscribers: int(values['cluster-subs'], 1000, 'cluster-subs', 2),
    clusterWindow: int(values['cluster-window'], 256, 'cluster-window'),
    clusterPayloadSize: int(values['cluster-payload'], 128, 'cluster-payload', 18),
    lockstepCount: packetIds(int(values['lockstep-count'], 10000, 'lockstep-count')),
    lockstepReps: int(values['lockstep-reps'], 3, 'lockstep-reps'),
    devices: int(values.devices, 1000, 'devices'),
    devicesRounds: int(values['devices-rounds'], 30, 'devices-rounds'),
    devicesWarmupRounds: int(values['devices-warmup'], 30, 'devices-warmup', 0),
    lowLoadRate: int(values['low-load-rate'], 1000, 'low-load-rate'),
    lowLoadReps: int(values['low-load-reps'], quick ? 1 : 3, 'low-load-reps', 1),
    pin: values['no-pin'] ? false : (values.pin ?? true),
    write: values['no-write'] ? false : (values.write ?? null),
    doc: values.doc ?? null,
    argv,
  };
}
