/**
 * The cluster scenarios' setups (x1, x2): Pulse on one node, two Pulse nodes joined through a real
 * nats-server or redis-server, and the peer, nats-server alone and two nats-servers joined by routes.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import {
  binary,
  type LaunchOptions,
  launch,
  NATS_SERVER,
  nodeArgs,
  PULSE_BIN,
  pulseCommandFlags,
  PULSE_CLI,
  PULSE_LIMIT_ARGS,
  PULSE_LOG_ARGS,
  SOCKET_IO,
} from './launch.js';
import { freePort, httpOk, ServerProcess, sleep, tcpOpen } from './server-process.js';

export const CLUSTER_SETUP_NAMES = [
  'pulse-1',
  'pulse-nats',
  'pulse-redis',
  'pulse-workers',
  'socketio-redis',
  'nats-1',
  'nats-routes',
] as const;
export type ClusterSetupName = (typeof CLUSTER_SETUP_NAMES)[number];

export const CLUSTER_SETUP_LABELS: Record<ClusterSetupName, string> = {
  'pulse-1': 'Pulse, 1 node',
  'pulse-nats': 'Pulse, 2 nodes via nats-server',
  'pulse-redis': 'Pulse, 2 nodes via redis-server',
  'pulse-workers': 'Pulse --workers 2 via nats-server',
  'socketio-redis': 'Socket.IO, 2 nodes via redis-adapter',
  'nats-1': 'nats-server, 1 server',
  'nats-routes': 'nats-server, 2 servers (routes)',
};

/** The single-node run each setup is compared with. */
export const CLUSTER_BASELINE: Record<ClusterSetupName, ClusterSetupName> = {
  'pulse-1': 'pulse-1',
  'pulse-nats': 'pulse-1',
  'pulse-redis': 'pulse-1',
  'pulse-workers': 'pulse-1',
  'socketio-redis': 'socketio-redis',
  'nats-1': 'nats-1',
  'nats-routes': 'nats-1',
};

const REDIS_SERVER = binary('redis-server', 'REDIS_SERVER');

/** One node of a setup: a server the generator speaks WebSocket to. */
export interface ClusterNode {
  server: ServerProcess;
  /** Its WebSocket port. */
  port: number;
}

export interface ClusterSetup {
  name: ClusterSetupName;
  /** The generator's dialect for every node. */
  dialect: 'pulse' | 'nats' | 'socketio';
  /** Node A (the publisher's) first; one node, or two. */
  nodes: ClusterNode[];
  /** The engine server between two Pulse nodes, or null. */
  engine: ServerProcess | null;
  stop(): Promise<void>;
}

/** Why a setup cannot run here, or null. */
export function clusterUnavailable(name: ClusterSetupName): string | null {
  if (name.startsWith('pulse') && !existsSync(PULSE_CLI)) return `${PULSE_CLI} is not built`;
  if (
    (name.startsWith('nats') || name === 'pulse-nats' || name === 'pulse-workers') &&
    !existsSync(NATS_SERVER)
  )
    return 'nats-server is not installed (or set NATS_SERVER)';
  if ((name === 'pulse-redis' || name === 'socketio-redis') && !existsSync(REDIS_SERVER))
    return 'redis-server is not installed (or set REDIS_SERVER)';
  return null;
}

/** True once redis-server on `port` answers PING with +PONG. */
function pongs(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let seen = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      seen += chunk.toString('latin1');
      if (seen.includes('\r\n')) done(seen.startsWith('+PONG'));
    });
    socket.once('error', () => done(false));
  });
}

async function startNatsEngine(o: LaunchOptions): Promise<{ server: ServerProcess; url: string }> {
  const port = await freePort(o.host);
  const server = await ServerProcess.start({
    label: 'nats-server (engine)',
    command: NATS_SERVER,
    args: ['-a', o.host, '-p', String(port)],
    env: { ...process.env, GOMAXPROCS: String(o.natsProcs) },
    logFile: join(o.workDir, `${o.tag}-engine.log`),
    cpus: o.cpus,
    ready: () => tcpOpen(o.host, port),
  });
  return { server, url: `nats://${o.host}:${port}` };
}

async function startRedisEngine(o: LaunchOptions): Promise<{ server: ServerProcess; url: string }> {
  const port = await freePort(o.host);
  const server = await ServerProcess.start({
    label: 'redis-server (engine)',
    command: REDIS_SERVER,
    args: [
      ...['--port', String(port), '--bind', o.host, '--save', '', '--appendonly', 'no'],
      ...['--dir', o.workDir, '--daemonize', 'no'],
    ],
    logFile: join(o.workDir, `${o.tag}-engine.log`),
    cpus: o.cpus,
    ready: () => pongs(o.host, port),
  });
  return { server, url: `redis://${o.host}:${port}` };
}

/** A Pulse node with its native WebSocket endpoint on `port`, joined through the engine at `url`. */
async function startPulseNode(
  o: LaunchOptions,
  node: string,
  engine: 'nats' | 'redis',
  url: string,
): Promise<ClusterNode> {
  const port = await freePort(o.host);
  const server = await ServerProcess.start({
    label: `Pulse node ${node}`,
    command: process.execPath,
    args: [
      ...pulseCommandFlags(),
      ...nodeArgs(),
      PULSE_CLI,
      ...['--host', o.host, '--port', String(port), '--tcp-port', '0'],
      ...['--mqtt-port', '0', '--metrics-port', '0'],
      ...PULSE_LIMIT_ARGS,
      ...['--cluster-engine', engine, '--cluster-url', url, '--cluster-node-name', `bench-${node}`],
      ...['--cluster-required', 'true'],
    ],
    logFile: join(o.workDir, `${o.tag}-${node}.log`),
    cpus: o.cpus,
    ready: () => httpOk(`http://${o.host}:${port}/healthz`),
  });
  return { server, port };
}

/**
 * `pulse --workers 2` (the committed bin/pulse.js) with the flags of a node, joined through the
 * engine at `url`: one port, which both workers listen on. Logs at info (no periodic report) for
 * the primary's "pulse workers listening", which it logs once every worker listens; its CPU counts
 * the workers'.
 */
async function startPulseWorkers(o: LaunchOptions, url: string): Promise<ClusterNode> {
  const port = await freePort(o.host);
  const logFile = join(o.workDir, `${o.tag}-workers.log`);
  const server = await ServerProcess.start({
    label: 'Pulse --workers 2',
    command: process.execPath,
    args: [
      ...pulseCommandFlags(),
      ...nodeArgs(),
      PULSE_BIN,
      ...['--workers', '2', '--host', o.host, '--port', String(port), '--tcp-port', '0'],
      ...['--mqtt-port', '0', '--metrics-port', '0'],
      ...['--log', 'info', '--log-report-interval-ms', '0', ...PULSE_LIMIT_ARGS.slice(PULSE_LOG_ARGS.length)],
      ...['--cluster-engine', 'nats', '--cluster-url', url, '--cluster-node-name', 'bench-w'],
      ...['--cluster-required', 'true'],
    ],
    logFile,
    cpus: o.cpus,
    withChildren: true,
    ready: async () => readFileSync(logFile, 'utf8').includes('"msg":"pulse workers listening"'),
  });
  return { server, port };
}

/** A Socket.IO node (peers/socketio-server.ts) joined to the others by the Redis adapter at `url`. */
async function startSocketIoNode(o: LaunchOptions, node: string, url: string): Promise<ClusterNode> {
  const port = await freePort(o.host);
  const server = await ServerProcess.start({
    label: `Socket.IO node ${node}`,
    command: process.execPath,
    args: [...nodeArgs(), SOCKET_IO, '--host', o.host, '--port', String(port), '--redis', url],
    logFile: join(o.workDir, `${o.tag}-${node}.log`),
    cpus: o.cpus,
    ipc: true,
    ready: () => tcpOpen(o.host, port),
  });
  return { server, port };
}

/** The routes of the nats-server whose monitoring port is `monitor`. */
async function routes(host: string, monitor: number): Promise<number> {
  const res = await fetch(`http://${host}:${monitor}/routez`, { signal: AbortSignal.timeout(1000) });
  const body = (await res.json()) as { num_routes?: number };
  return body.num_routes ?? 0;
}

/** Two nats-servers with WebSocket listeners, joined by routes; resolves once both see the route. */
async function startNatsRoutes(o: LaunchOptions, started: ServerProcess[]): Promise<ClusterNode[]> {
  const ports = await Promise.all(
    ['a', 'b'].map(async () => ({
      client: await freePort(o.host),
      ws: await freePort(o.host),
      route: await freePort(o.host),
      monitor: await freePort(o.host),
    })),
  );
  const nodes: ClusterNode[] = [];
  for (const [i, p] of ports.entries()) {
    const other = ports[1 - i]!; // two entries
    const config = join(o.workDir, `${o.tag}-${i}.conf`);
    writeFileSync(
      config,
      [
        `host: "${o.host}"`,
        `port: ${p.client}`,
        `http_port: ${p.monitor}`,
        'max_payload: 1048576',
        'max_connections: 100000',
        'write_deadline: "10s"',
        'websocket {',
        `  host: "${o.host}"`,
        `  port: ${p.ws}`,
        '  no_tls: true',
        '  compression: false',
        '}',
        'cluster {',
        '  name: "bench"',
        `  host: "${o.host}"`,
        `  port: ${p.route}`,
        `  routes: ["nats-route://${o.host}:${other.route}"]`,
        '}',
        '',
      ].join('\n'),
    );
    const server = await ServerProcess.start({
      label: `nats-server ${i === 0 ? 'A' : 'B'}`,
      command: NATS_SERVER,
      args: ['-c', config],
      env: { ...process.env, GOMAXPROCS: String(o.natsProcs) },
      logFile: join(o.workDir, `${o.tag}-${i}.log`),
      cpus: o.cpus,
      ready: () => tcpOpen(o.host, p.ws),
    });
    started.push(server);
    nodes.push({ server, port: p.ws });
  }
  const deadline = Date.now() + 10_000;
  for (const p of ports) {
    while ((await routes(o.host, p.monitor).catch(() => 0)) < 1) {
      if (Date.now() > deadline) throw new Error('the two nats-servers did not route to each other in 10 s');
      await sleep(50);
    }
  }
  return nodes;
}

/** Starts setup `name`; whatever started is stopped again if a later step fails. */
export async function launchClusterSetup(name: ClusterSetupName, o: LaunchOptions): Promise<ClusterSetup> {
  const started: ServerProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(started.map((s) => s.stop()));
  };
  try {
    let nodes: ClusterNode[];
    let engine: ServerProcess | null = null;
    switch (name) {
      case 'pulse-1':
      case 'nats-1': {
        const one = await launch(name === 'pulse-1' ? 'pulse' : 'nats', o);
        started.push(one.server);
        nodes = [one];
        break;
      }
      case 'pulse-nats':
      case 'pulse-redis': {
        const kind = name === 'pulse-nats' ? 'nats' : 'redis';
        const e = kind === 'nats' ? await startNatsEngine(o) : await startRedisEngine(o);
        started.push(e.server);
        engine = e.server;
        nodes = [];
        for (const node of ['a', 'b']) {
          const n = await startPulseNode(o, node, kind, e.url);
          started.push(n.server);
          nodes.push(n);
        }
        break;
      }
      case 'pulse-workers': {
        const e = await startNatsEngine(o);
        started.push(e.server);
        engine = e.server;
        const n = await startPulseWorkers(o, e.url);
        started.push(n.server);
        nodes = [n];
        break;
      }
      case 'socketio-redis': {
        const e = await startRedisEngine(o);
        started.push(e.server);
        engine = e.server;
        nodes = [];
        for (const node of ['a', 'b']) {
          const n = await startSocketIoNode(o, node, e.url);
          started.push(n.server);
          nodes.push(n);
        }
        break;
      }
      case 'nats-routes':
        nodes = await startNatsRoutes(o, started);
        break;
    }
    const dialect = name.startsWith('pulse') ? 'pulse' : name.startsWith('socketio') ? 'socketio' : 'nats';
    return { name, dialect, nodes, engine, stop };
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }
}
