import { parseArgs } from 'node:util';
import { TARGET_NAMES, type TargetName } from './dialects/index.js';

export const SCENARIO_NAMES = ['micro', 'a', 'b', 'c'] as const;
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
  /** Pin servers to CPU 0 and the generator to the other CPUs (needs ≥ 2 CPUs and taskset). */
  pin: boolean;
  /** Write the table into the doc (null: only for a full run). */
  write: boolean | null;
  doc: string | null;
  /** The arguments as given, for the record. */
  argv: string[];
}

export const USAGE = `Usage: npm run bench -- [options]

  --only LIST          scenarios: micro,a,b,c (or codec,fanout,pairs,idle); default all
  --targets LIST       pulse,naive-ws,socketio,nats (aliases ws, socket.io, nats-server); default all
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

function int(raw: string | undefined, fallback: number, name: string, min = 1): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
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
      'nap-ms': { type: 'string' },
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
    scenarios: list(values.only, SCENARIO_ALIASES, SCENARIO_NAMES, 'scenario'),
    targets: list(values.targets, TARGET_ALIASES, TARGET_NAMES, 'target'),
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
    pin: values['no-pin'] ? false : (values.pin ?? true),
    write: values['no-write'] ? false : (values.write ?? null),
    doc: values.doc ?? null,
    argv,
  };
}
