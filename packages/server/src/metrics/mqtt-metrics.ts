import { Counter, Gauge, type Registry } from 'prom-client';
import type { MqttService } from '../mqtt/mqtt-service.js';

/** A counter whose value lives in a plain field the hot path increments; read at scrape time. */
export function mirror(
  counter: Counter<string>,
  labels: Record<string, string>,
  total: number,
  seen: Map<string, number>,
): void {
  const key = (counter as unknown as { name: string }).name + JSON.stringify(labels);
  const delta = total - (seen.get(key) ?? 0);
  if (delta > 0) {
    counter.inc(labels, delta);
    seen.set(key, total);
  }
}

/** Counters without labels, each mirroring a running total read at scrape time. */
export function mirroredCounters(
  registry: Registry,
  rows: readonly (readonly [name: string, help: string, total: () => number])[],
  seen: Map<string, number>,
): void {
  for (const [name, help, total] of rows) {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        mirror(this, {}, total(), seen);
      },
    });
  }
}

/** Packets by type, with the PUBLISH packets the hot path counts apart from the Map. */
function withPublishes(byType: ReadonlyMap<string, number>, publishes: number): [string, number][] {
  const rows = [...byType];
  if (publishes > 0) rows.push(['publish', publishes]);
  return rows;
}

/** The MQTT broker's metrics, in the same registry as the rest (`pulse_mqtt_*`). */
export function registerMqttMetrics(
  registry: Registry,
  service: () => MqttService | undefined,
  seen: Map<string, number>,
): void {
  const registers = [registry];
  const counterFromMap = (
    name: string,
    help: string,
    label: string,
    pick: (m: MqttService) => Iterable<[string, number]>,
  ) =>
    new Counter({
      name,
      help,
      labelNames: [label],
      registers,
      collect() {
        const m = service();
        if (m) for (const [key, n] of pick(m)) mirror(this, { [label]: key }, n, seen);
      },
    });
  const gauge = (name: string, help: string, read: (m: MqttService) => number) =>
    new Gauge({
      name,
      help,
      registers,
      collect() {
        const m = service();
        this.set(m ? read(m) : 0);
      },
    });
  gauge('pulse_mqtt_connections', 'Open MQTT connections (TCP and WebSocket)', (m) => m.connectionCount);
  gauge(
    'pulse_mqtt_sessions',
    'MQTT sessions, connected or kept for a disconnected client',
    (m) => m.sessions.size,
  );
  gauge(
    'pulse_mqtt_inflight',
    'QoS 1/2 messages sent and not yet acknowledged',
    (m) => m.queueDepths().inflight,
  );
  gauge('pulse_mqtt_queued', 'Messages waiting in session queues', (m) => m.queueDepths().queued);
  gauge(
    'pulse_mqtt_queued_bytes',
    'Bytes (payload, topic and properties) waiting in session queues (mqtt.max_queued_bytes_total)',
    (m) => m.queuedBytes,
  );
  gauge('pulse_mqtt_retained', 'Retained messages', (m) => m.retained.size);
  gauge(
    'pulse_mqtt_retained_bytes',
    'Bytes (payload, topic and properties) of the retained messages clients keep (mqtt.max_retained_bytes)',
    (m) => m.retained.bytes,
  );
  counterFromMap('pulse_mqtt_packets_in_total', 'MQTT packets received, by type', 'type', (m) =>
    withPublishes(m.stats.packetsIn, m.stats.publishPacketsIn),
  );
  counterFromMap('pulse_mqtt_packets_out_total', 'MQTT packets sent, by type', 'type', (m) =>
    // PUBLISH packets out are counted by QoS only, when written (MqttLink.sendPublish).
    withPublishes(
      m.stats.packetsOut,
      m.stats.publishesOut[0] + m.stats.publishesOut[1] + m.stats.publishesOut[2],
    ),
  );
  counterFromMap(
    'pulse_mqtt_dropped_total',
    'Messages not delivered, by reason (expired, queue_full, too_large, qos0_offline, slow_consumer)',
    'reason',
    (m) => m.stats.dropped,
  );
  counterFromMap(
    'pulse_mqtt_retained_refused_total',
    'Retained publications refused, by the limit reached (messages, bytes)',
    'limit',
    (m) => m.stats.retainRefused,
  );
  counterFromMap(
    'pulse_mqtt_publish_refused_total',
    'Client publications refused, by MQTT reason code',
    'reason',
    (m) => m.stats.refused,
  );
  for (const dir of ['in', 'out'] as const) {
    new Counter({
      name: `pulse_mqtt_publishes_${dir}_total`,
      help: `MQTT PUBLISH packets ${dir === 'in' ? 'received' : 'sent'}, by QoS`,
      labelNames: ['qos'],
      registers,
      collect() {
        const m = service();
        if (!m) return;
        const counts = dir === 'in' ? m.stats.publishesIn : m.stats.publishesOut;
        for (const [qos, count] of counts.entries()) mirror(this, { qos: String(qos) }, count, seen);
      },
    });
  }
  const plain = (name: string, help: string, read: (m: MqttService) => number) =>
    new Counter({
      name,
      help,
      registers,
      collect() {
        const m = service();
        if (m) mirror(this, {}, read(m), seen);
      },
    });
  plain(
    'pulse_mqtt_parse_errors_total',
    'Malformed or oversized MQTT packets and protocol violations',
    (m) => m.stats.parseErrors,
  );
  plain('pulse_mqtt_wills_published_total', 'Will messages published', (m) => m.stats.willsPublished);
  plain(
    'pulse_mqtt_sessions_restored_total',
    'Persistent sessions loaded from the store at start-up',
    (m) => m.stats.sessionsRestored,
  );
  plain(
    'pulse_mqtt_sessions_refused_total',
    'CONNECTs refused because a new session would pass mqtt.max_sessions',
    (m) => m.stats.sessionsRefused,
  );
}
