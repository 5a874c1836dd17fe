import { hostname } from 'node:os';
import { clusterUrls } from '../config/cluster.js';
import type { PulseConfig } from '../config/index.js';
import type { ClusterEngine, EngineOptions } from './cluster-engine.js';
import { ClusterStartError } from './cluster-error.js';
import { NatsEngine } from './nats-engine.js';
import { urlShown } from './url-shown.js';
import { RedisEngine } from './redis-engine.js';

const DEFAULT_URL = { redis: 'redis://127.0.0.1:6379', nats: 'nats://127.0.0.1:4222' } as const;
const SCHEMES = { redis: ['redis:', 'rediss:'], nats: ['nats:', 'tls:'] } as const;

/** The configured engine and the text that names its servers in logs, or undefined for `none`. */
export interface ConfiguredEngine {
  readonly engine: ClusterEngine;
  /** The servers' URLs without credentials. */
  readonly where: string;
  readonly nodeName: string;
}

/**
 * Builds `cluster.engine`. Throws one readable line when a URL's scheme is another engine's
 * (a redis:// URL with engine nats is a mistake, not a fallback).
 */
export function configuredEngine(cluster: PulseConfig['cluster']): ConfiguredEngine | undefined {
  const kind = cluster.engine;
  if (kind === 'none') return undefined;
  const urls = clusterUrls(cluster.url);
  if (urls.length === 0) urls.push(DEFAULT_URL[kind]);
  for (const url of urls) {
    const scheme = new URL(url).protocol;
    if (!(SCHEMES[kind] as readonly string[]).includes(scheme)) {
      throw new ClusterStartError(
        `cluster.url ${JSON.stringify(urlShown(url))} is not a ${kind} URL (cluster.engine = "${kind}" takes ${SCHEMES[kind].map((s) => `${s}//`).join(' or ')})`,
      );
    }
  }
  const nodeName = cluster.node_name === '' ? `${hostname()}:${process.pid}` : cluster.node_name;
  const options: EngineOptions = { urls, prefix: cluster.prefix, nodeName };
  const engine = kind === 'nats' ? new NatsEngine(options) : new RedisEngine(options);
  return { engine, where: urls.map(urlShown).join(','), nodeName };
}
