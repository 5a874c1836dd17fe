import type { Packet } from '@pulse/protocol';

/**
 * A packet for a v5 client whose Maximum Packet Size it would exceed is sent without its Reason
 * String and User Properties (MQTT 5 §3.4.2.2.2, §3.14.2.2.3 and the like: the sender MUST NOT
 * send them then). Undefined when it has neither: nothing is left to take out.
 */
export function withoutProblemInformation(packet: Packet): Packet | undefined {
  const properties = (packet as { properties?: Record<string, unknown> }).properties;
  if (properties?.reasonString === undefined && properties?.userProperties === undefined) return undefined;
  const { reasonString: _reason, userProperties: _user, ...rest } = properties;
  return { ...packet, properties: rest } as Packet;
}
