import type { PulseConfig } from '../config/index.js';
import type { MqttService } from '../mqtt/mqtt-service.js';
import type { Cluster } from './cluster.js';
import type { ControlFeature, UncheckedControl } from './control-bus.js';
import { RETAINED_TYPES } from './retained-messages.js';
import { TAKEOVER_TYPES } from './takeover-messages.js';
import { ClientIdTakeover, TAKEOVER_WAIT_MS } from './mqtt-takeover.js';
import { RetainedSync } from './mqtt-retained-sync.js';

const MIB = 1024 * 1024;

/** The MQTT broker's part in the cluster: retained messages shared, client ids unique (docs/CLUSTER.md). */
export interface MqttCluster {
  readonly retained: RetainedSync;
  readonly takeover: ClientIdTakeover;
}

/**
 * A node without MQTT listeners still answers claims ("none here"), so that a CONNECT on
 * another node does not wait for it, and takes no part in retained messages.
 */
class NoMqtt implements ControlFeature {
  readonly types = [...RETAINED_TYPES, ...TAKEOVER_TYPES];
  constructor(
    private readonly send: (message: { y: string } & Record<string, unknown>, to?: string) => void,
  ) {}
  receive(origin: string, message: UncheckedControl): string | undefined {
    if (message.y !== 'mt') return undefined;
    if (typeof message.k !== 'string' || message.k.length > 64) return 'takeover: bad claim id';
    this.send({ y: 'mn', k: message.k, r: 'none' }, origin);
    return undefined;
  }
}

/**
 * Registers the MQTT features on the cluster's control bus and hooks them to the broker
 * (undefined without MQTT listeners: then only NoMqtt).
 */
export function joinMqttToCluster(
  cluster: Cluster,
  mqtt: MqttService | undefined,
  config: PulseConfig,
): MqttCluster | undefined {
  if (mqtt === undefined) {
    cluster.control.register(new NoMqtt((message, to) => cluster.control.send(message, to)));
    return undefined;
  }
  const send = (message: { y: string }, to?: string) => cluster.control.send(message, to);
  const maxPayloadBytes = config.mqtt.max_packet_size;
  const retained = new RetainedSync(mqtt, cluster.nodeId, send, maxPayloadBytes);
  const takeover = new ClientIdTakeover(
    mqtt,
    cluster.nodeId,
    send,
    () => cluster.presence.peers(),
    () => cluster.stats.state === 'connected',
    {
      maxPayloadBytes,
      // A session's queue (mqtt.max_queued_bytes, 16 MiB when unbounded) and 16 MiB of messages in flight.
      maxTransferBytes: (config.mqtt.max_queued_bytes || 16 * MIB) + 16 * MIB,
      maxTransferRecords:
        config.mqtt.max_queued_messages + 2 * 65_535 + config.limits.max_subscriptions_per_connection,
      waitMs: TAKEOVER_WAIT_MS,
    },
  );
  cluster.control.register(retained);
  cluster.control.register(takeover);
  mqtt.cluster = {
    retained: (publication) => retained.localChanged(publication),
    claim: (clientId, cleanStart, user) => takeover.claim(clientId, cleanStart, user),
  };
  return { retained, takeover };
}
