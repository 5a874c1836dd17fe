import { Gauge, type Registry } from 'prom-client';
import type { ClusterStats } from '../cluster/cluster.js';
import { mirroredCounters } from './mqtt-metrics.js';

/** The cluster's metrics (`pulse_cluster_*`), registered when `[cluster]` names an engine. */
export function registerClusterMetrics(
  registry: Registry,
  stats: () => ClusterStats | undefined,
  seen: Map<string, number>,
): void {
  const registers = [registry];
  new Gauge({
    name: 'pulse_cluster_engine_connected',
    help: 'Whether this node is connected to its cluster engine (1) or serving its local clients only (0)',
    registers,
    collect() {
      this.set(stats()?.state === 'connected' ? 1 : 0);
    },
  });
  const counters: [string, string, keyof ClusterStats][] = [
    [
      'pulse_cluster_publications_sent_total',
      'Local publications handed to the engine for the other nodes',
      'sent',
    ],
    [
      'pulse_cluster_publications_lost_total',
      'Local publications that could not cross to the other nodes (engine not connected, envelope too large)',
      'lost',
    ],
    ['pulse_cluster_publications_received_total', "Other nodes' publications delivered here", 'received'],
    [
      'pulse_cluster_duplicates_total',
      'Copies of a publication the engine brought twice, dropped',
      'duplicates',
    ],
    ['pulse_cluster_envelopes_rejected_total', 'Malformed envelopes from the engine, dropped', 'rejected'],
    ['pulse_cluster_engine_disconnects_total', 'Times the connection to the engine was lost', 'disconnects'],
  ];
  mirroredCounters(
    registry,
    counters.map(([name, help, field]) => [name, help, () => Number(stats()?.[field] ?? 0)] as const),
    seen,
  );
  new Gauge({
    name: 'pulse_cluster_lag_seconds',
    help: "From another node's send to delivery here, of the last publication received (clocks of both nodes)",
    registers,
    // With workers (server.workers) the primary shows the largest; the rest are summed.
    aggregator: 'max',
    collect() {
      this.set((stats()?.lagMs ?? 0) / 1000);
    },
  });
}
