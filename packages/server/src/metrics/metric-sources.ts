import type { Broker, Store } from '@pulse/core';
import type { InputBudget } from '@pulse/protocol';
import type { AuthStats } from '../auth/auth-stats.js';
import type { ClusterStats } from '../cluster/cluster.js';
import type { MqttCluster } from '../cluster/mqtt-cluster.js';
import type { JsonStats } from '../json/json-stats.js';
import type { RateLimitStats } from '../limits/rate-limit-stats.js';
import type { MqttService } from '../mqtt/mqtt-service.js';
import type { NativeStats } from '../native/native-stats.js';
import type { CommitStats } from '../storage/store-committer.js';
import type { ConnectionFaults } from '../transport/connection-faults.js';
import type { TlsStats } from '../transport/tls.js';
import type { TransportName, TransportStats } from '../transport/transport-stats.js';
import type { HistogramCounts } from './histogram-counts.js';

/**
 * What the server counts itself, without prom-client: the few metrics whose numbers are
 * pushed (observed, incremented) rather than read from a stats object at scrape time.
 */
export interface PushedMetrics {
  /** pulse_publish_latency_seconds. */
  readonly latency: HistogramCounts;
  /** pulse_storage_commit_seconds. */
  readonly commitSeconds: HistogramCounts;
  /** pulse_storage_commits_total and pulse_storage_commit_errors_total, and the histogram above. */
  readonly storage: CommitStats;
  /** pulse_api_requests_total, by `<route>|<status>`. */
  readonly apiRequests: Map<string, number>;
}

/** Everything the registry reads when scraped. */
export interface MetricSources {
  broker: Broker;
  native: NativeStats;
  json: JsonStats;
  transports: Record<TransportName, TransportStats>;
  rejectedConnections: Map<string, number>;
  /** Refused connections closed without an answer (MAX_REFUSALS_ANSWERING were being answered). */
  unansweredRefusals: () => number;
  outboundBytes: () => number;
  mqtt: () => MqttService | undefined;
  store: () => Store;
  tls: TlsStats;
  rateLimits: RateLimitStats;
  faults: ConnectionFaults;
  inputBudget: InputBudget;
  auth: AuthStats;
  /** The cluster's numbers; undefined without `[cluster]` engine (no pulse_cluster_* then). */
  cluster: (() => ClusterStats | undefined) | undefined;
  /** MQTT across nodes, when clustered with MQTT on (pulse_cluster_mqtt_*). */
  mqttCluster?: () => MqttCluster | undefined;
  pushed: PushedMetrics;
}
