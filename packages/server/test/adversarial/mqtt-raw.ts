/**
 * MQTT packets as bytes, for what mqtt-packet (`encode` in ../mqtt-helpers.ts) refuses to
 * write: declared lengths past the data, varints at their maximum or longer than minimal.
 */

export const PacketType = {
  connect: 1,
  publish: 3,
  puback: 4,
  pubrec: 5,
  pubrel: 6,
  pubcomp: 7,
  subscribe: 8,
  unsubscribe: 10,
  pingreq: 12,
  disconnect: 14,
  auth: 15,
} as const;

/** The largest remaining length MQTT can express (four 0xFF 0xFF 0xFF 0x7F bytes). */
export const MAX_REMAINING_LENGTH = 268_435_455;

/** MQTT's variable byte integer; `bytes` forces a longer (non-minimal) form. */
export function varint(n: number, bytes?: number): Buffer {
  const out: number[] = [];
  do {
    let digit = n % 128;
    n = Math.floor(n / 128);
    if (n > 0 || (bytes !== undefined && out.length + 1 < bytes)) digit |= 0x80;
    out.push(digit);
  } while (n > 0 || (bytes !== undefined && out.length < bytes));
  return Buffer.from(out);
}

/** A packet with `firstByte` (type << 4 | flags), the real remaining length, and `body`. */
export const rawPacket = (firstByte: number, body: Uint8Array) =>
  Buffer.concat([Buffer.from([firstByte]), varint(body.length), body]);

/** A fixed header that declares `remaining` bytes, followed by only `body` of them. */
export const declaredPacket = (firstByte: number, remaining: number, body: Uint8Array = Buffer.alloc(0)) =>
  Buffer.concat([Buffer.from([firstByte]), varint(remaining), body]);

/** A length-prefixed UTF-8 string (or raw bytes: a string may be invalid). */
export function mqttString(s: string | Uint8Array): Buffer {
  const bytes = typeof s === 'string' ? Buffer.from(s, 'utf8') : Buffer.from(s);
  const out = Buffer.alloc(2 + bytes.length);
  out.writeUInt16BE(bytes.length & 0xffff);
  bytes.copy(out, 2);
  return out;
}

/** `count` user properties `k<i>` = `v<i>` (MQTT 5), for a PUBLISH, SUBSCRIBE or CONNECT. */
export function userProperties(count: number, valueBytes = 1): Record<string, string> {
  const out: Record<string, string> = {};
  const value = 'v'.repeat(valueBytes);
  for (let i = 0; i < count; i++) out[`k${i}`] = value;
  return out;
}

/** A topic or filter of `levels` levels of `level`. */
export const deepTopic = (levels: number, level = 'a') => Array(levels).fill(level).join('/');

/** `count` MQTT 5 user properties (0x26, key `k<i>`, value of `valueBytes`), as property bytes. */
export function userPropertyBytes(count: number, valueBytes = 1): Buffer {
  const value = mqttString('v'.repeat(valueBytes));
  const parts: Buffer[] = [];
  for (let i = 0; i < count; i++) parts.push(Buffer.from([0x26]), mqttString(`k${i}`), value);
  return Buffer.concat(parts);
}

/** An MQTT 5 PUBLISH with `properties` as given (property bytes, without their length). */
export function publishV5(
  topic: string,
  payload: Uint8Array,
  properties: Uint8Array,
  qos: 0 | 1 = 0,
  id = 1,
): Buffer {
  const packetId = qos ? Buffer.from([id >> 8, id & 0xff]) : Buffer.alloc(0);
  return rawPacket(
    0x30 | (qos << 1),
    Buffer.concat([mqttString(topic), packetId, varint(properties.length), properties, payload]),
  );
}
