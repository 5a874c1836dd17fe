import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DurableTargetName, MqttTargetName, TargetName, WsTargetName } from '../dialects/index.js';
import { freePort, httpOk, ServerProcess, tcpOpen } from './server-process.js';

export interface LaunchOptions {
  host: string;
  /** Directory for server logs and generated config files. */
  workDir: string;
  /** Name of this run, for the log file. */
  tag: string;
  /** GOMAXPROCS for nats-server. */
  natsProcs: number;
  /** CPUs the server is pinned to, or null. */
  cpus: string | null;
}

export interface RunningTarget {
  server: ServerProcess;
  /** The port the generator connects to: WebSocket, or MQTT over TCP. */
  port: number;
}

/** What the generator speaks to a target: WebSocket (scenarios a–c) or MQTT 3.1.1 over TCP (m1–m3). */
export type Protocol = 'ws' | 'mqtt';

const here = (rel: string): string => fileURLToPath(new URL(rel, import.meta.url));
/** What the `pulse` command runs: the bundle of dist/src (scripts/bundle-server.mjs). */
export const PULSE_CLI = here('../../../../server/dist/bundle/cli.js');
/** The committed `pulse` command (`--workers N` forks from it). */
export const PULSE_BIN = here('../../../../server/bin/pulse.js');
const NAIVE_WS = here('../peers/naive-ws-server.js');
export const SOCKET_IO = here('../peers/socketio-server.js');
const AEDES = here('../peers/aedes-server.js');
const MQTT_RELAY = here('../peers/mqtt-relay-server.js');

/** A server binary from $`envVar`, $PATH or the sbin directories Debian installs it in. */
export function binary(name: string, envVar: string): string {
  const fromEnv = process.env[envVar];
  if (fromEnv) return fromEnv;
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/usr/bin'];
  const found = dirs.filter((d) => d !== '').map((d) => join(d, name));
  return found.find((p) => existsSync(p)) ?? `/usr/sbin/${name}`;
}
export const NATS_SERVER = binary('nats-server', 'NATS_SERVER');
const MOSQUITTO = binary('mosquitto', 'MOSQUITTO');

export const TARGET_LABELS: Record<TargetName, string> = {
  pulse: 'Pulse',
  'naive-ws': 'naive ws',
  socketio: 'Socket.IO',
  nats: 'nats-server',
  mosquitto: 'Mosquitto',
  'mosquitto-nodelay': 'Mosquitto nodelay',
  aedes: 'Aedes',
  'pulse-sqlite-strict': 'Pulse sqlite strict',
  'pulse-sqlite-balanced': 'Pulse sqlite balanced',
  'pulse-sqlite-fast': 'Pulse sqlite fast',
  'mosquitto-persist': 'Mosquitto persist',
  'mosquitto-persist-eager': 'Mosquitto persist eager',
  'mqtt-relay': 'Node MQTT relay (floor)',
};

/** Why a target cannot run here, or null when it can. */
export function unavailable(target: TargetName): string | null {
  if (target.startsWith('pulse') && !existsSync(PULSE_CLI)) return `${PULSE_CLI} is not built`;
  if (target === 'nats' && !existsSync(NATS_SERVER))
    return 'nats-server is not installed (or set NATS_SERVER)';
  if (target.startsWith('mosquitto') && !existsSync(MOSQUITTO))
    return 'mosquitto is not installed (apt-get install mosquitto, or set MOSQUITTO)';
  return null;
}

/**
 * The node flags of the `pulse` command, from its exec line in bin/pulse.js
 * (`//bin/true; exec node FLAGS "$0" "$@"`): the bench runs Pulse as that command runs it. Throws
 * when the line is not there, rather than measuring Pulse without its flags.
 */
export function pulseCommandFlags(): string[] {
  const lines = readFileSync(PULSE_BIN, 'utf8').split('\n', 3);
  const m = /^\/\/bin\/true; exec node(.*) "\$0" "\$@"$/.exec(lines[1] ?? '');
  if (lines[0] !== '#!/bin/sh' || m === null) {
    throw new Error(
      `${PULSE_BIN}: no "exec node FLAGS" line after #!/bin/sh, so no flags for the pulse command`,
    );
  }
  return (m[1] as string).split(' ').filter(Boolean);
}

/** Extra node flags for node-based servers, e.g. PULSE_BENCH_SERVER_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof". */
export const nodeArgs = (): string[] =>
  (process.env.PULSE_BENCH_SERVER_ARGS ?? '').split(' ').filter(Boolean);

/** Only quieter logs: the lock-step section (l1-l3) runs Pulse with its shipped defaults otherwise. */
export const PULSE_LOG_ARGS = ['--log', 'warn'];
/** Pulse's flags besides the listeners (the same for both protocols). */
export const PULSE_LIMIT_ARGS = [
  ...PULSE_LOG_ARGS,
  '--limits-max-connections',
  '100000',
  ...['--limits-max-subscriptions-per-connection', '1000', '--limits-max-outbound-bytes', '8388608'],
];
/** Pulse's MQTT session queue, as relaxed as Mosquitto's below. */
export const PULSE_MQTT_ARGS = ['--mqtt-max-queued-messages', '100000'];

type PulseTarget = Extract<TargetName, 'pulse' | `pulse-${string}`>;
type MosquittoTarget = Extract<TargetName, `mosquitto${string}`>;

/**
 * Each Pulse target's own flags: its storage. `data` is a fresh, empty directory of this server's,
 * removed once it has stopped. `pulse` keeps the default, `--storage-engine memory`.
 */
export const PULSE_TARGET_ARGS: Record<PulseTarget, (data: string) => string[]> = {
  pulse: () => [],
  'pulse-sqlite-strict': (data) => sqlite(data, 'strict'),
  'pulse-sqlite-balanced': (data) => sqlite(data, 'balanced'),
  'pulse-sqlite-fast': (data) => sqlite(data, 'fast'),
};

function sqlite(data: string, policy: string): string[] {
  return ['--sqlite', join(data, 'pulse.db'), '--storage-commit-policy', policy];
}

/** Targets that store something on disk, and so get a data directory. */
const STORED: ReadonlySet<TargetName> = new Set<TargetName>([
  'pulse-sqlite-strict',
  'pulse-sqlite-balanced',
  'pulse-sqlite-fast',
  'mosquitto-persist',
  'mosquitto-persist-eager',
]);

/** Pulse with its native WebSocket endpoint on `port`, or (MQTT) its MQTT listener on `port`. */
async function launchPulse(
  o: LaunchOptions,
  port: number,
  protocol: Protocol,
  target: PulseTarget = 'pulse',
  tuned = true,
): Promise<ServerProcess> {
  const data = dataDir(o, target);
  const httpPort = protocol === 'ws' ? port : await freePort(o.host);
  const mqttPort = protocol === 'mqtt' ? port : 0;
  return ServerProcess.start({
    label: 'Pulse',
    command: process.execPath,
    args: [
      ...pulseCommandFlags(),
      ...nodeArgs(),
      PULSE_CLI,
      ...['--host', o.host, '--port', String(httpPort), '--tcp-port', '0'],
      ...['--mqtt-port', String(mqttPort), '--metrics-port', '0'],
      ...(tuned ? PULSE_LIMIT_ARGS : PULSE_LOG_ARGS),
      ...(tuned && protocol === 'mqtt' ? PULSE_MQTT_ARGS : []),
      ...PULSE_TARGET_ARGS[target](data ?? ''),
    ],
    logFile: join(o.workDir, `${o.tag}.log`),
    cpus: o.cpus,
    dataDir: data,
    ready: async () =>
      (await httpOk(`http://${o.host}:${httpPort}/healthz`)) &&
      (protocol === 'ws' || (await tcpOpen(o.host, port))),
  });
}

/** The lines of the generated mosquitto.conf besides the listener and those of each target. */
export const MOSQUITTO_CONFIG = [
  'allow_anonymous true',
  // Relaxed as the seed's benchmark did: no cap on QoS 1/2 in flight to a client (default 20), and
  // a deep queue behind it (default 1,000). The closed loops never fill either.
  'max_inflight_messages 0',
  'max_queued_messages 100000',
  'log_dest stderr',
  'log_type error',
  'log_type warning',
  'log_type notice',
];

/**
 * The `mosquitto-nodelay` target adds this: Nagle's algorithm off, as Pulse, nats-server and Aedes
 * (see peers/aedes-server.ts) have it. Mosquitto's default leaves it on, which on loopback both
 * coalesces its many small writes (fewer segments) and, with the receiver's delayed ACK, can hold a
 * small write back for ~40 ms (eclipse-mosquitto/mosquitto#433); the benchmark runs both.
 */
export const MOSQUITTO_NODELAY = 'set_tcp_nodelay true';

/**
 * Each Mosquitto target's own lines. The persistent ones keep their snapshot (`mosquitto.db`) in
 * `data`: as shipped, every 30 minutes (`autosave_interval 1800`) and at shutdown; eager, after
 * every main-loop pass that changed something (`autosave_on_changes true` counts subscription
 * changes, retained and queued messages, and saves once the count reaches `autosave_interval`).
 */
export const MOSQUITTO_TARGET_CONFIG: Record<MosquittoTarget, (data: string) => string[]> = {
  mosquitto: () => ['persistence false'],
  'mosquitto-nodelay': () => ['persistence false', MOSQUITTO_NODELAY],
  'mosquitto-persist': (data) => [...persistence(data), 'autosave_interval 1800'],
  'mosquitto-persist-eager': (data) => [
    ...persistence(data),
    'autosave_on_changes true',
    'autosave_interval 1',
  ],
};

/**
 * Started as root, Mosquitto drops to the `mosquitto` user, which cannot write into the run's
 * directory; `user` keeps it as whoever runs the benchmark (`root` means: do not drop).
 */
function persistence(data: string): string[] {
  return ['persistence true', `persistence_location ${data}/`, `user ${userInfo().username}`];
}

/** Mosquitto with a generated config; its log (stderr) goes to the run's log file. */
async function launchMosquitto(
  o: LaunchOptions,
  port: number,
  target: MosquittoTarget,
): Promise<ServerProcess> {
  const config = join(o.workDir, `${o.tag}.conf`);
  const data = dataDir(o, target);
  const lines = [
    `listener ${port} ${o.host}`,
    ...MOSQUITTO_CONFIG,
    ...MOSQUITTO_TARGET_CONFIG[target](data ?? ''),
  ];
  writeFileSync(config, [...lines, ''].join('\n'));
  return ServerProcess.start({
    label: TARGET_LABELS[target],
    command: MOSQUITTO,
    args: ['-c', config],
    logFile: join(o.workDir, `${o.tag}.log`),
    cpus: o.cpus,
    dataDir: data,
    ready: () => tcpOpen(o.host, port),
  });
}

/** A fresh, empty directory under the work directory for a target that stores, else null. */
function dataDir(o: LaunchOptions, target: TargetName): string | null {
  return STORED.has(target) ? mkdtempSync(join(o.workDir, `${o.tag}-data-`)) : null;
}

function launchNodePeer(
  label: string,
  script: string,
  o: LaunchOptions,
  port: number,
): Promise<ServerProcess> {
  return ServerProcess.start({
    label,
    command: process.execPath,
    args: [...nodeArgs(), script, '--host', o.host, '--port', String(port)],
    logFile: join(o.workDir, `${o.tag}.log`),
    cpus: o.cpus,
    ipc: true,
    ready: () => tcpOpen(o.host, port),
  });
}

async function launchNats(o: LaunchOptions, wsPort: number): Promise<ServerProcess> {
  const clientPort = await freePort(o.host);
  const config = join(o.workDir, `${o.tag}.conf`);
  writeFileSync(
    config,
    [
      `host: "${o.host}"`,
      `port: ${clientPort}`,
      'max_payload: 1048576',
      'max_connections: 100000',
      'write_deadline: "10s"',
      'websocket {',
      `  host: "${o.host}"`,
      `  port: ${wsPort}`,
      '  no_tls: true',
      '  compression: false',
      '}',
      '',
    ].join('\n'),
  );
  return ServerProcess.start({
    label: 'nats-server',
    command: NATS_SERVER,
    args: ['-c', config],
    env: { ...process.env, GOMAXPROCS: String(o.natsProcs) },
    logFile: join(o.workDir, `${o.tag}.log`),
    cpus: o.cpus,
    ready: () => tcpOpen(o.host, wsPort),
  });
}

/** Starts the target's WebSocket server on a free port and waits until it answers. */
export async function launch(target: WsTargetName, o: LaunchOptions): Promise<RunningTarget> {
  const port = await freePort(o.host);
  switch (target) {
    case 'pulse':
      return { server: await launchPulse(o, port, 'ws'), port };
    case 'naive-ws':
      return { server: await launchNodePeer('naive ws', NAIVE_WS, o, port), port };
    case 'socketio':
      return { server: await launchNodePeer('Socket.IO', SOCKET_IO, o, port), port };
    case 'nats':
      return { server: await launchNats(o, port), port };
  }
}

/** Starts the target's MQTT listener on a free port and waits until it accepts connections. */
export async function launchMqtt(
  target: MqttTargetName | DurableTargetName,
  o: LaunchOptions,
): Promise<RunningTarget> {
  const port = await freePort(o.host);
  switch (target) {
    case 'pulse':
    case 'pulse-sqlite-strict':
    case 'pulse-sqlite-balanced':
    case 'pulse-sqlite-fast':
      return { server: await launchPulse(o, port, 'mqtt', target), port };
    case 'mosquitto':
    case 'mosquitto-nodelay':
    case 'mosquitto-persist':
    case 'mosquitto-persist-eager':
      return { server: await launchMosquitto(o, port, target), port };
    case 'aedes':
      return { server: await launchNodePeer('Aedes', AEDES, o, port), port };
  }
}

/**
 * The lock-step section's targets (l1-l3): Pulse with its shipped defaults (no limit or queue flags;
 * its storage flags for the SQLite target), the peers as everywhere else.
 */
export async function launchDefaults(
  target: 'pulse' | 'pulse-sqlite-balanced' | 'mosquitto-persist' | 'nats' | 'naive-ws' | 'mqtt-relay',
  protocol: Protocol,
  o: LaunchOptions,
): Promise<RunningTarget> {
  const port = await freePort(o.host);
  if (target === 'nats') return { server: await launchNats(o, port), port };
  if (target === 'naive-ws') return { server: await launchNodePeer('naive ws', NAIVE_WS, o, port), port };
  if (target === 'mqtt-relay') {
    return { server: await launchNodePeer('Node MQTT relay', MQTT_RELAY, o, port), port };
  }
  if (target === 'mosquitto-persist') return { server: await launchMosquitto(o, port, target), port };
  return { server: await launchPulse(o, port, protocol, target, false), port };
}
