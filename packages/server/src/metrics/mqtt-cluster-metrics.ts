import type { Registry } from 'prom-client';
import type { MqttCluster } from '../cluster/mqtt-cluster.js';
import { mirroredCounters } from './mqtt-metrics.js';

type Source = (c: MqttCluster) => number;

/** `pulse_cluster_mqtt_*`: client-id takeovers and retained messages across nodes (docs/CLUSTER.md). */
export function registerMqttClusterMetrics(
  registry: Registry,
  mqttCluster: () => MqttCluster | undefined,
  seen: Map<string, number>,
): void {
  const counters: [string, string, Source][] = [
    [
      'pulse_cluster_mqtt_takeover_claims_total',
      'CONNECTs here that asked the other nodes for their client id',
      (c) => c.takeover.stats.claims,
    ],
    [
      'pulse_cluster_mqtt_sessions_handed_over_total',
      'Sessions this node handed to another node that took their client id over',
      (c) => c.takeover.stats.handedOver,
    ],
    [
      'pulse_cluster_mqtt_sessions_received_total',
      'Sessions another node handed over to this node',
      (c) => c.takeover.stats.received,
    ],
    [
      'pulse_cluster_mqtt_takeover_timeouts_total',
      'Claims whose bounded wait ran out (a node silent or dead): a new session',
      (c) => c.takeover.stats.timeouts,
    ],
    [
      'pulse_cluster_mqtt_takeover_refused_total',
      'Claims another node refused (the session belongs to another user)',
      (c) => c.takeover.stats.refused,
    ],
    [
      'pulse_cluster_mqtt_session_parts_late_total',
      'Handed-over sessions whose parts came after the wait ran out, dropped',
      (c) => c.takeover.stats.late,
    ],
    [
      'pulse_cluster_mqtt_retained_applied_total',
      'Retained sets and clears from other nodes applied here',
      (c) => c.retained.stats.applied,
    ],
    [
      'pulse_cluster_mqtt_retained_ignored_total',
      'Retained messages from other nodes older than what this node holds, ignored',
      (c) => c.retained.stats.ignored,
    ],
    [
      'pulse_cluster_mqtt_retained_refused_total',
      'Retained messages from other nodes refused (malformed, or past this node’s retained limits)',
      (c) => c.retained.stats.refused,
    ],
    [
      'pulse_cluster_mqtt_retained_sets_sent_total',
      'Retained sets this node sent to nodes that (re)joined',
      (c) => c.retained.stats.setsSent,
    ],
  ];
  mirroredCounters(
    registry,
    counters.map(
      ([name, help, value]) =>
        [
          name,
          help,
          () => {
            const c = mqttCluster();
            return c === undefined ? 0 : value(c);
          },
        ] as const,
    ),
    seen,
  );
}
