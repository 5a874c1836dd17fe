import { existsSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MqttTargetName, TargetName, WsTargetName } from '../dialects/index.js';
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
export const PULSE_CLI = here('../../../../server/dist/src/cli.js');
const NAIVE_WS = here('../peers/naive-ws-server.js');
const SOCKET_IO = here('../peers/socketio-server.js');
const AEDES = here('../peers/aedes-server.js');

/** A server binary from $`envVar`, $PATH or the sbin directories Debian installs it in. */
function binary(name: string, envVar: string): string {
  const fromEnv = process.env[envVar];
  if (fromEnv) return fromEnv;
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/usr/bin'];
  const found = dirs.filter((d) => d !== '').map((d) => join(d, name));
  return found.find((p) => existsSync(p)) ?? `/usr/sbin/${name}`;
}
const NATS_SERVER = binary('nats-server', 'NATS_SERVER');
const MOSQUITTO = binary('mosquitto', 'MOSQUITTO');

export const TARGET_LABELS: Record<TargetName, string> = {
  pulse: 'Pulse',
  'naive-ws': 'naive ws',
  socketio: 'Socket.IO',
  nats: 'nats-server',
  mosquitto: 'Mosquitto',
  'mosquitto-nodelay': 'Mosquitto nodelay',
  aedes: 'Aedes',
};

/** Why a target cannot run here, or null when it can. */
export function unavailable(target: TargetName): string | null {
  if (target === 'pulse' && !existsSync(PULSE_CLI)) return `${PULSE_CLI} is not built`;
  if (target === 'nats' && !existsSync(NATS_SERVER))
    return 'nats-server is not installed (or set NATS_SERVER)';
  if ((target === 'mosquitto' || target === 'mosquitto-nodelay') && !existsSync(MOSQUITTO))
    return 'mosquitto is not installed (apt-get install mosquitto, or set MOSQUITTO)';
  return null;
}

/** Extra node flags for node-based servers, e.g. PULSE_BENCH_SERVER_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof". */
const nodeArgs = (): string[] => (process.env.PULSE_BENCH_SERVER_ARGS ?? '').split(' ').filter(Boolean);

/** Pulse's flags besides the listeners (the same for both protocols). */
export const PULSE_LIMIT_ARGS = [
  ...['--log', 'warn', '--limits-max-connections', '100000'],
  ...['--limits-max-subscriptions-per-connection', '1000', '--limits-max-outbound-bytes', '8388608'],
];
/** Pulse's MQTT session queue, as relaxed as Mosquitto's below. */
export const PULSE_MQTT_ARGS = ['--mqtt-max-queued-messages', '100000'];

/** Pulse with its native WebSocket endpoint on `port`, or (MQTT) its MQTT listener on `port`. */
async function launchPulse(o: LaunchOptions, port: number, protocol: Protocol): Promise<ServerProcess> {
  const httpPort = protocol === 'ws' ? port : await freePort(o.host);
  const mqttPort = protocol === 'mqtt' ? port : 0;
  return ServerProcess.start({
    label: 'Pulse',
    command: process.execPath,
    args: [
      ...nodeArgs(),
      PULSE_CLI,
      ...['--host', o.host, '--port', String(httpPort), '--tcp-port', '0'],
      ...['--mqtt-port', String(mqttPort), '--metrics-port', '0'],
      ...PULSE_LIMIT_ARGS,
      ...(protocol === 'mqtt' ? PULSE_MQTT_ARGS : []),
    ],
    logFile: join(o.workDir, `${o.tag}.log`),
    cpus: o.cpus,
    ready: async () =>
      (await httpOk(`http://${o.host}:${httpPort}/healthz`)) &&
      (protocol === 'ws' || (await tcpOpen(o.host, port))),
  });
}

/** The lines of the generated mosquitto.conf besides the listener. */
export const MOSQUITTO_CONFIG = [
  'allow_anonymous true',
  'persistence false',
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

/** Mosquitto with a generated config; its log (stderr) goes to the run's log file. */
async function launchMosquitto(o: LaunchOptions, port: number, nodelay: boolean): Promise<ServerProcess> {
  const config = join(o.workDir, `${o.tag}.conf`);
  const lines = [`listener ${port} ${o.host}`, ...MOSQUITTO_CONFIG, ...(nodelay ? [MOSQUITTO_NODELAY] : [])];
  writeFileSync(config, [...lines, ''].join('\n'));
  return ServerProcess.start({
    label: nodelay ? 'Mosquitto nodelay' : 'Mosquitto',
    command: MOSQUITTO,
    args: ['-c', config],
    logFile: join(o.workDir, `${o.tag}.log`),
    cpus: o.cpus,
    ready: () => tcpOpen(o.host, port),
  });
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
export async function launchMqtt(target: MqttTargetName, o: LaunchOptions): Promise<RunningTarget> {
  const port = await freePort(o.host);
  switch (target) {
    case 'pulse':
      return { server: await launchPulse(o, port, 'mqtt'), port };
    case 'mosquitto':
      return { server: await launchMosquitto(o, port, false), port };
    case 'mosquitto-nodelay':
      return { server: await launchMosquitto(o, port, true), port };
    case 'aedes':
      return { server: await launchNodePeer('Aedes', AEDES, o, port), port };
  }
}
