import type { Publication } from '@pulse/core';
import { type MqttVersion, encodePacket } from '@pulse/protocol';
import type { IPublishPacket } from 'mqtt-packet';

/** First `Outbound.encodings` slot used by MQTT templates (native uses 0-2). */
const FIRST_SLOT = 8;

export interface PublishOptions {
  qos: 0 | 1 | 2;
  retain: boolean;
  dup: boolean;
  packetId: number;
  subscriptionIds?: number[];
  topicAlias?: number;
  /** Send an empty topic name (the alias stands for it). */
  omitTopic?: boolean;
}

/** MQTT 5 properties that travel with a publication untouched (§3.3.2.3). */
function passThroughProperties(p: Publication): IPublishPacket['properties'] {
  const props = p.properties as IPublishPacket['properties'] | undefined;
  if (!props) return undefined;
  const out: NonNullable<IPublishPacket['properties']> = {};
  if (props.payloadFormatIndicator !== undefined) out.payloadFormatIndicator = props.payloadFormatIndicator;
  if (props.contentType !== undefined) out.contentType = props.contentType;
  if (props.responseTopic !== undefined) out.responseTopic = props.responseTopic;
  if (props.correlationData !== undefined) out.correlationData = props.correlationData;
  if (props.userProperties !== undefined) out.userProperties = props.userProperties;
  return out;
}

function generate(p: Publication, version: MqttVersion, o: PublishOptions, nowMs: number): Buffer {
  const packet: IPublishPacket = {
    cmd: 'publish',
    topic: o.omitTopic ? '' : p.channel,
    payload: p.payload as Buffer,
    qos: o.qos,
    retain: o.retain,
    dup: o.dup,
    messageId: o.qos > 0 ? o.packetId : undefined,
  };
  if (version === 5) {
    const props = passThroughProperties(p) ?? {};
    if (p.expiresAt !== undefined)
      props.messageExpiryInterval = Math.max(0, Math.ceil((p.expiresAt - nowMs) / 1000));
    if (o.subscriptionIds && o.subscriptionIds.length > 0) {
      props.subscriptionIdentifier =
        o.subscriptionIds.length === 1 ? o.subscriptionIds[0] : o.subscriptionIds;
    }
    if (o.topicAlias !== undefined) props.topicAlias = o.topicAlias;
    if (Object.keys(props).length > 0) packet.properties = props;
  }
  return encodePacket(packet, version);
}

/** Offset of the packet identifier in a PUBLISH: after the fixed header and the topic name. */
function packetIdOffset(bytes: Buffer): number {
  let i = 1;
  while (bytes[i] & 0x80) i++;
  return i + 1 + 2 + bytes.readUInt16BE(i + 1);
}

/**
 * The PUBLISH packet for one delivery. Deliveries that differ only in packet id and DUP share
 * one template per (protocol level, QoS, RETAIN), generated once per publication; the copy for
 * QoS 1/2 patches the id (and DUP) in place. Per-subscriber properties (subscription ids,
 * topic aliases) and the time-dependent message expiry take the slow path.
 */
export function publishPacket(
  p: Publication,
  version: MqttVersion,
  o: PublishOptions,
  nowMs: number,
): Buffer {
  const perDelivery =
    (version === 5 &&
      (p.expiresAt !== undefined || o.subscriptionIds?.length || o.topicAlias !== undefined)) ||
    o.omitTopic;
  if (perDelivery) return generate(p, version, o, nowMs);
  const slot = FIRST_SLOT + (version === 5 ? 6 : 0) + o.qos * 2 + (o.retain ? 1 : 0);
  let template = p.encodings[slot];
  if (!template) {
    template = generate(p, version, { ...o, dup: false, packetId: 1 }, nowMs);
    p.encodings[slot] = template;
  }
  if (o.qos === 0) return template;
  const copy = Buffer.allocUnsafe(template.length);
  template.copy(copy);
  copy.writeUInt16BE(o.packetId, packetIdOffset(copy));
  if (o.dup) copy[0] |= 0x08;
  return copy;
}
