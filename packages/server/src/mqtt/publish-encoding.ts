import type { Publication } from '@pulse/core';
import { type MqttVersion, encodeBarePublish, encodePacket } from '@pulse/protocol';
import type { IPublishPacket } from 'mqtt-packet';
import { mqttPublishSlot } from '../encoding-slots.js';
import { withDeliveryProperties } from './delivery-properties.js';

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

/** The delivery every subscriber of this (version, QoS, RETAIN) shares: packet id 1, DUP clear. */
function generate(p: Publication, version: MqttVersion, qos: 0 | 1 | 2, retain: boolean): Buffer {
  const props = version === 5 ? passThroughProperties(p) : undefined;
  if (props === undefined) {
    const payload = p.payload;
    return encodeBarePublish({ topic: p.channel, payload, qos, retain, dup: false, packetId: 1, version });
  }
  const packet: IPublishPacket = {
    cmd: 'publish',
    topic: p.channel,
    payload: p.payload as Buffer,
    qos,
    retain,
    dup: false,
    messageId: qos > 0 ? 1 : undefined,
  };
  packet.properties = props;
  return encodePacket(packet, version);
}

/**
 * Takes a client's PUBLISH, as received, for the template `generate` would write for the same
 * publication, when it is that packet byte for byte: DUP and RETAIN clear, the shortest
 * Remaining Length, no properties (v5: an empty list). A message that travels alone to one
 * subscriber is then written as it came, not encoded again. The topic needs no check: the
 * publication's channel was decoded from these bytes, and a topic that would not encode back
 * to them (ill-formed UTF-8, U+0000, a topic alias) was refused or carries properties.
 *
 * Only a packet that is most of the memory it is a view of (a read of its own, a WebSocket
 * frame): a QoS 0 delivery is the template itself, and one waiting in a slow subscriber's
 * socket would otherwise keep the whole read it was cut from, other packets included (64 kB
 * for a 13-byte delivery, up to limits.max_outbound_bytes of them), where the budget counts 13.
 */
export function adoptReceivedPublish(p: Publication, bytes: Buffer, version: MqttVersion): void {
  if (bytes.buffer.byteLength > 2 * bytes.length) return;
  const qos = p.qos;
  if (bytes[0] !== (0x30 | (qos << 1))) return;
  let lengthBytes = 1;
  while (lengthBytes < 5 && bytes[lengthBytes]! & 0x80) lengthBytes++;
  const remaining = bytes.length - 1 - lengthBytes;
  if (lengthBytes !== (remaining < 128 ? 1 : remaining < 16_384 ? 2 : remaining < 2_097_152 ? 3 : 4)) return;
  if (version === 5) {
    const propertiesAt = packetIdOffset(bytes) + (qos > 0 ? 2 : 0);
    if (bytes[propertiesAt] !== 0) return;
  }
  p.encodings[mqttPublishSlot(version === 5, qos, false)] = bytes;
}

/** Offset of the packet identifier in a PUBLISH: after the fixed header and the topic name. */
function packetIdOffset(bytes: Buffer): number {
  let i = 1;
  while (bytes[i]! & 0x80) i++; // a PUBLISH we encoded: its remaining length ends with a byte < 0x80
  return i + 1 + 2 + bytes.readUInt16BE(i + 1);
}

/**
 * The PUBLISH packet for one delivery. Deliveries share one template per (protocol level, QoS,
 * RETAIN), generated once per publication; the copy for QoS 1/2 patches the id (and DUP) in
 * place. Per-subscriber properties (subscription ids, topic aliases) and the time-dependent
 * message expiry are spliced into a copy of the template (withDeliveryProperties), so that no
 * delivery encodes the message's properties again.
 */
export function publishPacket(
  p: Publication,
  version: MqttVersion,
  o: PublishOptions,
  nowMs: number,
): Buffer {
  const slot = mqttPublishSlot(version === 5, o.qos, o.retain);
  let template = p.encodings[slot];
  if (!template) {
    template = generate(p, version, o.qos, o.retain);
    p.encodings[slot] = template;
  }
  const subscriptionIds = o.subscriptionIds?.length ? o.subscriptionIds : undefined;
  if (version === 5 && (p.expiresAt !== undefined || subscriptionIds || o.topicAlias !== undefined)) {
    return withDeliveryProperties(template, {
      qos: o.qos,
      dup: o.dup,
      packetId: o.packetId,
      messageExpiryInterval:
        p.expiresAt !== undefined ? Math.max(0, Math.ceil((p.expiresAt - nowMs) / 1000)) : undefined,
      subscriptionIds,
      topicAlias: o.topicAlias,
      omitTopic: o.omitTopic === true,
    });
  }
  if (o.qos === 0) return template;
  const copy = Buffer.allocUnsafe(template.length);
  template.copy(copy);
  copy.writeUInt16BE(o.packetId, packetIdOffset(copy));
  if (o.dup) copy[0] = copy[0]! | 0x08; // a packet has its first byte
  return copy;
}
