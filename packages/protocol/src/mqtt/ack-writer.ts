import type { Packet } from 'mqtt-packet';

/** First byte of the four acknowledgement packets (type and the flags the spec fixes). */
const ACK_HEADERS: Partial<Record<string, number>> = {
  puback: 0x40,
  pubrec: 0x50,
  pubrel: 0x62,
  pubcomp: 0x70,
};

/**
 * PUBACK/PUBREC/PUBREL/PUBCOMP without reason code or properties are the same 4 bytes in
 * every version (MQTT 5 §3.4.2.1 lets reason 0 be left out): written here without the generic
 * encoder. Undefined for any other packet (encodePacket writes it).
 */
export function encodeBareAck(packet: Packet): Buffer | undefined {
  const fixed = ACK_HEADERS[packet.cmd];
  if (fixed === undefined) return undefined;
  const ack = packet as { messageId?: number; reasonCode?: number; properties?: object };
  if (ack.reasonCode || ack.properties || ack.messageId === undefined) return undefined;
  const bytes = Buffer.allocUnsafe(4);
  bytes[0] = fixed;
  bytes[1] = 2;
  bytes.writeUInt16BE(ack.messageId, 2);
  return bytes;
}
