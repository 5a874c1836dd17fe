/** What a kept message is made of, as a publication or as stored. */
export interface HeldMessage {
  channel: string;
  payload: Uint8Array;
  event?: string | undefined;
  properties?: Record<string, unknown> | undefined;
}

function valueBytes(value: unknown): number {
  if (typeof value === 'string') return value.length;
  if (value instanceof Uint8Array) return value.byteLength;
  return 8;
}

/**
 * The bytes a kept message (retained, history) counts towards a byte limit: payload, channel,
 * event, and its MQTT properties (strings, bytes, and user properties one level down: the
 * shapes `Publication.properties` has), so that a small payload with large properties is not free.
 */
export function heldBytes(message: HeldMessage): number {
  let bytes = message.payload.byteLength + message.channel.length + (message.event?.length ?? 0);
  const properties = message.properties;
  if (properties === undefined) return bytes;
  for (const key in properties) {
    const value = properties[key];
    bytes += key.length;
    if (value === null || typeof value !== 'object' || value instanceof Uint8Array) {
      bytes += valueBytes(value);
      continue;
    }
    for (const name in value as Record<string, unknown>) {
      const inner = (value as Record<string, unknown>)[name];
      bytes += name.length;
      if (Array.isArray(inner)) for (const item of inner) bytes += valueBytes(item);
      else bytes += valueBytes(inner);
    }
  }
  return bytes;
}
