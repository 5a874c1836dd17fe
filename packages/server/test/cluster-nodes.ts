import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Cluster } from '../src/cluster/cluster.js';
import type { PulseConfig } from '../src/config/index.js';
import { type DeepPartial, freePort } from './helpers.js';
import { type MqttHarness, startMqtt } from './mqtt-helpers.js';
import { type PulseProcess, spawnPulse } from './pulse-process.js';

/** A Pulse node of a test cluster: a real server (all protocols) joined through `engine`. */
export interface Node extends MqttHarness {
  readonly cluster: Cluster;
  /** Every log line it wrote, parsed. */
  readonly logs: { level: number; msg: string; [key: string]: unknown }[];
}

export type EngineConfig = DeepPartial<PulseConfig>['cluster'];

/** Starts a node whose `[cluster]` is `cluster`, with `overrides` for the rest. */
export async function startNode(
  cluster: EngineConfig,
  overrides: DeepPartial<PulseConfig> = {},
): Promise<Node> {
  const logs: Node['logs'] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line !== '') logs.push(JSON.parse(line));
      done();
    },
  });
  const h = await startMqtt({ ...overrides, cluster }, { logger: pino({ level: 'info' }, sink) });
  const joined = h.server.cluster;
  if (joined === undefined) throw new Error('the node has no cluster: [cluster] engine is none');
  return { ...h, cluster: joined, logs };
}

/** Waits until every node's engine holds the interest its subscribers have now. */
export async function settled(...nodes: Node[]): Promise<void> {
  await Promise.all(nodes.map((node) => node.cluster.settled()));
}

/** A `pulse` process (the real binary) joined through `url`, for tests that kill it. */
export interface NodeProcess {
  readonly process: PulseProcess;
  /** The HTTP / WebSocket port. */
  readonly port: number;
  readonly mqttPort: number;
  readonly wsUrl: string;
}

/** Spawns a node process (not waiting for it: `process.ready`); the caller kills it. */
export async function spawnNodeProcess(
  kind: 'nats' | 'redis',
  url: string,
  presenceTtlMs: number,
  mqttPort = 0,
  extraArgs: string[] = [],
  env: Record<string, string> = {},
): Promise<NodeProcess> {
  const port = await freePort();
  const args = [
    ...extraArgs,
    '--port',
    String(port),
    '--tcp-port',
    '0',
    '--metrics-port',
    '0',
    '--mqtt-port',
    String(mqttPort),
    '--cluster-presence-ttl-ms',
    String(presenceTtlMs),
    '--cluster-engine',
    kind,
    '--cluster-url',
    url,
  ];
  const process = spawnPulse(args, env);
  return { process, port, mqttPort, wsUrl: `ws://127.0.0.1:${port}/ws` };
}
