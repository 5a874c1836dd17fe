import { checkPublishChannel } from '@pulse/core';
import { checkMqttTopic } from '../mqtt/topic-rules.js';

/**
 * The fields of a publication from the engine that a node's own checks would have refused had a
 * client sent them (docs/CLUSTER.md, "Security"). Another node publishes only what passed
 * them; a writer on the shared engine server is under no such rule, and a field of the wrong
 * shape throws later, in an encoder, when a subscriber (perhaps an offline session, on every
 * reconnect) is sent the message.
 */

/** The longest message expiry MQTT can say (a four-byte count of seconds), in milliseconds. */
const MAX_EXPIRY_MS = 0xffff_ffff * 1000;

/** Why no client could have published on `channel`, or undefined: the native rules or MQTT's. */
export function remoteChannelProblem(channel: string): string | undefined {
  if (checkPublishChannel(channel) === undefined || checkMqttTopic(channel) === undefined) return undefined;
  return 'a channel no client can publish to';
}

const isStringList = (v: unknown) => Array.isArray(v) && v.every((s) => typeof s === 'string');

/**
 * The MQTT 5 properties that travel with a message (mqtt/pass-through-properties.ts), each of
 * the type mqtt-packet encodes, in a new object (other keys left out); or why not.
 */
export function remoteProperties(p: Record<string, unknown>): Record<string, unknown> | string {
  const { payloadFormatIndicator, contentType, responseTopic, correlationData, userProperties } = p;
  if (payloadFormatIndicator !== undefined && typeof payloadFormatIndicator !== 'boolean')
    return 'bad payloadFormatIndicator';
  if (contentType !== undefined && typeof contentType !== 'string') return 'bad contentType';
  if (responseTopic !== undefined && typeof responseTopic !== 'string') return 'bad responseTopic';
  if (correlationData !== undefined && !(correlationData instanceof Uint8Array)) return 'bad correlationData';
  if (userProperties !== undefined) {
    if (typeof userProperties !== 'object' || userProperties === null || Array.isArray(userProperties))
      return 'bad userProperties';
    for (const value of Object.values(userProperties)) {
      if (typeof value !== 'string' && !isStringList(value)) return 'bad userProperties';
    }
  }
  const out: Record<string, unknown> = {};
  if (payloadFormatIndicator !== undefined) out.payloadFormatIndicator = payloadFormatIndicator;
  if (contentType !== undefined) out.contentType = contentType;
  if (responseTopic !== undefined) out.responseTopic = responseTopic;
  if (correlationData !== undefined) out.correlationData = Buffer.from(correlationData as Uint8Array);
  if (userProperties !== undefined) out.userProperties = userProperties;
  return out;
}

/** An expiry time from another node, within what MQTT can say from now (clocks differ). */
export function remoteExpiry(expiresAt: number, now: number): number {
  return Math.min(expiresAt, now + MAX_EXPIRY_MS);
}
