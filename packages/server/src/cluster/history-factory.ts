import type { Broker } from '@pulse/core';
import { clusterUrls } from '../config/cluster.js';
import type { PulseConfig } from '../config/index.js';
import type { Cluster } from './cluster.js';
import type { ClusterHistory } from './cluster-history.js';
import { NatsHistory } from './nats-history.js';
import { RedisHistory } from './redis-history.js';
import { SharedHistory } from './shared-history.js';

const DEFAULT_URL = { redis: 'redis://127.0.0.1:6379', nats: 'nats://127.0.0.1:4222' } as const;

/**
 * The cluster-wide history of `[[history]]` channels, on the configured engine's server; undefined
 * without an engine or without history rules (then nothing changes on the publish path).
 */
export function sharedHistoryFor(
  config: PulseConfig,
  cluster: Cluster,
  broker: Broker,
  nodeName: string,
  maxEnvelopeBytes: number,
): SharedHistory | undefined {
  const kind = config.cluster.engine;
  if (kind === 'none' || broker.history === undefined) return undefined;
  const urls = clusterUrls(config.cluster.url);
  if (urls.length === 0) urls.push(DEFAULT_URL[kind]);
  const options = { urls, prefix: config.cluster.prefix, nodeName };
  const store: ClusterHistory =
    kind === 'redis'
      ? new RedisHistory(options)
      : new NatsHistory(options, Math.max(...config.history.map((h) => h.size)));
  return new SharedHistory(store, broker, {
    nodeId: cluster.nodeId,
    maxEnvelopeBytes,
    forward: (publication) => cluster.forward(publication),
    settled: () => cluster.settled(),
  });
}
