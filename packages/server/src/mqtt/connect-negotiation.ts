import { isUtf8 } from 'node:buffer';
import { Publication, type Refusal } from '@pulse/core';
import { ConnackV4, ErrorCode, type MqttVersion, type Packet, Reason } from '@pulse/protocol';
import type { IConnectPacket } from 'mqtt-packet';
import type { PulseConfig } from '../config/index.js';
import { NEVER_EXPIRES } from './session.js';
import { passThrough } from './pass-through-properties.js';
import type { Will } from './will.js';

/** The largest packet MQTT can describe: what a client that sets no Maximum Packet Size accepts. */
const MQTT_MAX_PACKET_SIZE = 268_435_455;

/** The parts of mqtt.* a CONNECT is negotiated against. */
export type ConnectConfig = Pick<
  PulseConfig['mqtt'],
  | 'max_inflight_messages'
  | 'max_session_expiry_interval'
  | 'max_keepalive'
  | 'receive_maximum'
  | 'max_packet_size'
  | 'topic_alias_maximum'
>;

/** What a CONNECT needs besides its packet and the configuration. */
export interface ConnectContext {
  config: ConnectConfig;
  /** The will topic's check (mqtt/topic-rules, reserved topics): a refusal, or undefined. */
  checkTopic(topic: string): Refusal | undefined;
  /** The will's Response Topic check (limits.max_channel_length, limits.max_topic_levels). */
  checkResponseTopic(topic: string): Refusal | undefined;
  /** A fresh client identifier for a client that sent none. */
  newClientId(): string;
  /** The server drains: a CONNECT is refused with 0x8B / 3 Server unavailable. */
  draining: boolean;
}

/** The terms a CONNECT was accepted on (before authentication and the session). */
export interface ConnectTerms {
  readonly accepted: true;
  clientId: string;
  /** The identifier this server chose, told to a v5 client in CONNACK. */
  assignedClientId: string | undefined;
  clean: boolean;
  /** Session expiry (seconds), capped by mqtt.max_session_expiry_interval. */
  expiry: number;
  /** What the client asked for: a persistent session's expiry cannot go from 0 to more later. */
  requestedExpiry: number;
  /** The keep alive the connection is held to (seconds, 0 = none). */
  keepAlive: number;
  /** Told to a v5 client whose keep alive was 0 or above mqtt.max_keepalive (when that is not 0). */
  serverKeepAlive: number | undefined;
  /** QoS 1/2 messages the client takes unacknowledged, capped by mqtt.max_inflight_messages. */
  receiveMaximum: number;
  clientMaxPacketSize: number;
  clientTopicAliasMaximum: number;
  /** v5 Request Problem Information: false forbids reason strings but on CONNACK, PUBLISH, DISCONNECT. */
  problemInformation: boolean;
  will: Will | undefined;
}

/** How a CONNECT is refused. */
export interface ConnectRefusal {
  readonly accepted: false;
  /**
   * 'protocol-level': CONNACK 0x01 in the 3.1.1 format (MQTT 5 §3.1.2.2); 'close': closed
   * without CONNACK; 'connack': CONNACK with `v4Code` (3.1, 3.1.1) or `v5Reason` (5).
   */
  answer: 'protocol-level' | 'close' | 'connack';
  v4Code: number;
  v5Reason: number;
  /** Counted with the malformed packets (pulse_mqtt_parse_errors_total). */
  parseError: boolean;
}

function refuse(v4Code: number, v5Reason: number, parseError = false): ConnectRefusal {
  return { accepted: false, answer: 'connack', v4Code, v5Reason, parseError };
}

const PROTOCOL_LEVEL: ConnectRefusal = {
  accepted: false,
  answer: 'protocol-level',
  v4Code: ConnackV4.UnacceptableProtocolVersion,
  v5Reason: Reason.UnsupportedProtocolVersion,
  parseError: true,
};

const CLOSE: ConnectRefusal = {
  accepted: false,
  answer: 'close',
  v4Code: ConnackV4.ServerUnavailable,
  v5Reason: Reason.MalformedPacket,
  parseError: true,
};

/** The version a CONNECT speaks (3 = 3.1, 4 = 3.1.1, 5). */
export function connectVersion(packet: IConnectPacket): MqttVersion {
  return (packet.protocolVersion ?? 4) as MqttVersion;
}

/** A CONNECT packet against the configuration: the terms it is accepted on, or its refusal. No I/O. */
export function negotiateConnect(
  packet: IConnectPacket,
  context: ConnectContext,
): ConnectTerms | ConnectRefusal {
  const config = context.config;
  const version = connectVersion(packet);
  const v5 = version === 5;
  // "MQIsdp" is the name of 3.1 only, "MQTT" of 3.1.1 and 5.0.
  if ((packet.protocolId === 'MQIsdp') !== (version === 3)) return PROTOCOL_LEVEL;
  // 3.1.1 §3.1.2.9: no password without a user name (v5 allows it); no will QoS 3 (§3.1.2.6).
  if (
    (!v5 && packet.password !== undefined && packet.username === undefined) ||
    (packet.will?.qos ?? 0) > 2
  ) {
    return CLOSE;
  }
  if (context.draining) return refuse(ConnackV4.ServerUnavailable, Reason.ServerShuttingDown);
  const clean = packet.clean !== false;
  let clientId = packet.clientId ?? '';
  let assignedClientId: string | undefined;
  if (clientId.length === 0) {
    // 3.1 needs an id (1 to 23 characters); 3.1.1 accepts none only with clean session.
    if (version === 3 || (!v5 && !clean))
      return refuse(ConnackV4.IdentifierRejected, Reason.ClientIdentifierNotValid);
    clientId = context.newClientId();
    if (v5) assignedClientId = clientId;
  }
  // 3.1 (MQIsdp) limits client ids to 23 characters (MQTT 3.1 §3.1, Client Identifier).
  if (version === 3 && clientId.length > 23) {
    return refuse(ConnackV4.IdentifierRejected, Reason.ClientIdentifierNotValid);
  }
  if (clientId.includes('\uFFFD') || clientId.includes('\u0000')) {
    return refuse(ConnackV4.IdentifierRejected, Reason.ClientIdentifierNotValid);
  }
  const props = packet.properties ?? {};
  let receiveMaximum = config.max_inflight_messages;
  let clientMaxPacketSize = MQTT_MAX_PACKET_SIZE;
  let clientTopicAliasMaximum = 0;
  let problemInformation = true;
  if (v5) {
    if (
      props.receiveMaximum === 0 ||
      props.maximumPacketSize === 0 ||
      (props.authenticationData !== undefined && props.authenticationMethod === undefined)
    ) {
      // MQTT 5 §3.1.2.11.3, .4 and .10: a Protocol Error.
      return refuse(ConnackV4.ServerUnavailable, Reason.ProtocolError, true);
    }
    problemInformation = props.requestProblemInformation !== false;
    receiveMaximum = Math.min(props.receiveMaximum ?? 65_535, config.max_inflight_messages);
    clientMaxPacketSize = props.maximumPacketSize ?? MQTT_MAX_PACKET_SIZE;
    clientTopicAliasMaximum = props.topicAliasMaximum ?? 0;
    if (props.authenticationMethod !== undefined) {
      return refuse(ConnackV4.NotAuthorized, Reason.BadAuthenticationMethod);
    }
  }
  // Session expiry: 3.1.1 persistent sessions (clean session = 0) never expire unless capped.
  const requestedExpiry = v5 ? (props.sessionExpiryInterval ?? 0) : clean ? 0 : NEVER_EXPIRES;
  const expiry = Math.min(requestedExpiry, config.max_session_expiry_interval);

  const asked = packet.keepalive ?? 0;
  let keepAlive = asked;
  let serverKeepAlive: number | undefined;
  const maxKeepAlive = config.max_keepalive;
  // As Mosquitto: with a maximum, no keep alive (0) is past it too, or a silent connection
  // would be held for ever. Only v5 can be told another (Server Keep Alive); a 3.1.1 client
  // held to one it was not told would be closed while pinging as agreed, so it is refused.
  if (maxKeepAlive > 0 && (asked === 0 || asked > maxKeepAlive)) {
    if (!v5) return refuse(ConnackV4.IdentifierRejected, Reason.ClientIdentifierNotValid);
    keepAlive = maxKeepAlive;
    serverKeepAlive = maxKeepAlive;
  }

  let will: Will | undefined;
  if (packet.will) {
    const w = packet.will;
    const willProps = w.properties ?? {};
    if (hasWildcard(willProps.responseTopic)) {
      // MQTT 5 §3.1.3.2.6 (as §3.3.2.3.5 for PUBLISH): a Response Topic is a topic name.
      return refuse(ConnackV4.ServerUnavailable, Reason.ProtocolError, true);
    }
    if (willProps.responseTopic !== undefined && context.checkResponseTopic(willProps.responseTopic)) {
      return refuse(ConnackV4.NotAuthorized, Reason.TopicNameInvalid);
    }
    if (willProps.payloadFormatIndicator && !isUtf8(Buffer.from(w.payload))) {
      return refuse(ConnackV4.ServerUnavailable, Reason.PayloadFormatInvalid);
    }
    const refusal = context.checkTopic(w.topic);
    if (refusal) {
      const reserved = refusal.code === ErrorCode.Forbidden;
      return refuse(ConnackV4.NotAuthorized, reserved ? Reason.NotAuthorized : Reason.TopicNameInvalid);
    }
    will = {
      delaySeconds: v5 ? (willProps.willDelayInterval ?? 0) : 0,
      expirySeconds: v5 ? willProps.messageExpiryInterval : undefined,
      publication: new Publication({
        channel: w.topic,
        payload: Buffer.from(w.payload),
        qos: (w.qos ?? 0) as 0 | 1 | 2,
        retain: w.retain ?? false,
        properties: v5 ? stripWillDelay(willProps) : undefined,
      }),
    };
  }
  return {
    accepted: true,
    clientId,
    assignedClientId,
    clean,
    expiry,
    requestedExpiry,
    keepAlive,
    serverKeepAlive,
    receiveMaximum,
    clientMaxPacketSize,
    clientTopicAliasMaximum,
    problemInformation,
    will,
  };
}

/** The CONNACK of an accepted CONNECT: in v5 with what this server supports and what it changed. */
export function acceptingConnack(
  terms: ConnectTerms,
  version: MqttVersion,
  sessionPresent: boolean,
  config: ConnectConfig,
): Packet {
  if (version !== 5) return { cmd: 'connack', returnCode: 0, sessionPresent };
  const { assignedClientId, serverKeepAlive, expiry, requestedExpiry } = terms;
  return {
    cmd: 'connack',
    reasonCode: 0,
    sessionPresent,
    properties: {
      receiveMaximum: config.receive_maximum,
      maximumPacketSize: config.max_packet_size,
      topicAliasMaximum: config.topic_alias_maximum,
      retainAvailable: true,
      wildcardSubscriptionAvailable: true,
      sharedSubscriptionAvailable: true,
      subscriptionIdentifiersAvailable: true,
      ...(assignedClientId ? { assignedClientIdentifier: assignedClientId } : {}),
      ...(serverKeepAlive !== undefined ? { serverKeepAlive } : {}),
      ...(expiry !== requestedExpiry ? { sessionExpiryInterval: expiry } : {}),
    },
  };
}

/** A Response Topic with a wildcard character (MQTT 5 [MQTT-3.3.2-14]). */
export function hasWildcard(topic: string | undefined): boolean {
  return topic !== undefined && (topic.includes('+') || topic.includes('#'));
}

type WillProps = NonNullable<NonNullable<IConnectPacket['will']>['properties']>;

function stripWillDelay(props: WillProps) {
  const { willDelayInterval: _delay, messageExpiryInterval: _expiry, ...rest } = props;
  return passThrough(rest);
}
