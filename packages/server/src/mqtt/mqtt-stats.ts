/** Counters of the MQTT broker; the metrics module reads them at scrape time. */
export class MqttStats {
  /** Packets received and read, by type, but PUBLISH (publishPacketsIn). */
  readonly packetsIn = new Map<string, number>();
  /**
   * PUBLISH packets received and read, whatever became of them (rate-limited, refused, routed):
   * a plain number on the hot path; the metrics add it to packets_in{type="publish"}.
   */
  publishPacketsIn = 0;
  readonly packetsOut = new Map<string, number>();
  /** By QoS 0, 1, 2. */
  readonly publishesIn: [number, number, number] = [0, 0, 0];
  readonly publishesOut: [number, number, number] = [0, 0, 0];
  parseErrors = 0;
  /** Messages not delivered, by reason (expired, queue_full, too_large, qos0_offline, slow_consumer). */
  readonly dropped = new Map<string, number>();
  /** Publishes refused, by reason code name. */
  readonly refused = new Map<string, number>();
  /** Retained publications refused, by the limit reached (messages, bytes). */
  readonly retainRefused = new Map<string, number>();
  connectionsAccepted = 0;
  connectionsOpen = 0;
  willsPublished = 0;
  sessionsRestored = 0;
  /** CONNECTs refused because a new session would pass mqtt.max_sessions. */
  sessionsRefused = 0;

  count(map: Map<string, number>, key: string, n = 1): void {
    map.set(key, (map.get(key) ?? 0) + n);
  }
}
