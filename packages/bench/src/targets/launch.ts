import { existsSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TargetName } from '../dialects/index.js';
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
  /** The WebSocket port. */
  port: number;
}

const here = (rel: string): string => fileURLToPath(new URL(rel, import.meta.url));
export const PULSE_CLI = here('../../../../server/dist/src/cli.js');
const NAIVE_WS = here('../peers/naive-ws-server.js');
const SOCKET_IO = here('../peers/socketio-server.js');
/** nats-server from $NATS_SERVER, $PATH or the sbin directories Debian installs it in. */
const NATS_SERVER = (() => {
  if (process.env.NATS_SERVER) return process.env.NATS_SERVER;
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/usr/bin'];
  const found = dirs.filter((d) => d !== '').map((d) => join(d, 'nats-server'));
  return found.find((p) => existsSync(p)) ?? '/usr/sbin/nats-server';
})();

export const TARGET_LABELS: Record<TargetName, string> = {
  pulse: 'Pulse',
  'naive-ws': 'naive ws',
  socketio: 'Socket.IO',
  nats: 'nats-server',
};

/** Why a target cannot run here, or null when it can. */
export function unavailable(target: TargetName): string | null {
  if (target === 'pulse' && !existsSync(PULSE_CLI)) return `${PULSE_CLI} is not built`;
  if (target === 'nats' && !existsSync(NATS_SERVER))
    return 'nats-server is not installed (or set NATS_SERVER)';
  return null;
}

/** Extra node flags for node-based servers, e.g. PULSE_BENCH_SERVER_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof". */
const nodeArgs = (): string[] => (process.env.PULSE_BENCH_SERVER_ARGS ?? '').split(' ').filter(Boolean);

async function launchPulse(o: LaunchOptions, port: number): Promise<ServerProcess> {
  return ServerProcess.start({
    label: 'Pulse',
    command: process.execPath,
    args: [
      ...nodeArgs(),
      PULSE_CLI,
      ...[
        '--host',
        o.host,
        '--port',
        String(port),
        '--tcp-port',
        '0',
        '--mqtt-port',
        '0',
        '--metrics-port',
        '0',
      ],
      ...['--log', 'warn', '--limits-max-connections', '100000'],
      ...['--limits-max-subscriptions-per-connection', '1000', '--limits-max-outbound-bytes', '8388608'],
    ],
    logFile: join(o.workDir, `${o.tag}.log`),
    cpus: o.cpus,
    ready: () => httpOk(`http://${o.host}:${port}/healthz`),
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

/** Starts the target's server on a free port and waits until it answers. */
export async function launch(target: TargetName, o: LaunchOptions): Promise<RunningTarget> {
  const port = await freePort(o.host);
  switch (target) {
    case 'pulse':
      return { server: await launchPulse(o, port), port };
    case 'naive-ws':
      return { server: await launchNodePeer('naive ws', NAIVE_WS, o, port), port };
    case 'socketio':
      return { server: await launchNodePeer('Socket.IO', SOCKET_IO, o, port), port };
    case 'nats':
      return { server: await launchNats(o, port), port };
  }
}
