import { createRequire } from 'node:module';
import type { Packet } from 'mqtt-packet';
import type { RecentName } from '../recent-name.js';

/**
 * The object mqtt-packet's parser fills in (its `packet.js`). Results are made of the same
 * class, with fields set in the same order, so that they are indistinguishable from the
 * library's: same prototype, same keys and the same hidden class for the code that reads them.
 */
interface LibraryPacket {
  cmd: string | null;
  retain: boolean;
  qos: number;
  dup: boolean;
  length: number;
  topic: string | null;
  payload: Buffer | null;
  messageId?: number;
  reasonCode?: number;
}
type LibraryPacketClass = new () => LibraryPacket;

let packetClass: LibraryPacketClass | undefined;
function newPacket(): LibraryPacket {
  packetClass ??= createRequire(import.meta.url)('mqtt-packet/packet.js') as LibraryPacketClass;
  return new packetClass();
}

function flagTable(codes: readonly number[]): Uint8Array {
  const table = new Uint8Array(256);
  for (const code of codes) table[code] = 1;
  return table;
}

/** The MQTT 5 reason codes mqtt-packet accepts in PUBACK and PUBREC (its MQTT5_PUBACK_PUBREC_CODES). */
const PUBACK_PUBREC_REASONS = flagTable([0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]);
/** The MQTT 5 reason codes mqtt-packet accepts in PUBREL and PUBCOMP (its MQTT5_PUBREL_PUBCOMP_CODES). */
const PUBREL_PUBCOMP_REASONS = flagTable([0x00, 0x92]);

/** cmd, retain, qos, dup and length, read from the fixed header as mqtt-packet reads them. */
function header(cmd: string, first: number, length: number): LibraryPacket {
  const packet = newPacket();
  packet.cmd = cmd;
  packet.retain = (first & 0x01) !== 0;
  packet.qos = (first >> 1) & 0x03;
  packet.dup = (first & 0x08) !== 0;
  packet.length = length;
  return packet;
}

/**
 * Decodes the packets of a publication flow (PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP) and
 * PINGREQ straight from `bytes`, one whole packet from PacketSplitter, into exactly what
 * mqtt-packet's parser would emit for the same bytes in protocol version `version` (as
 * learnt from CONNECT). Returns undefined, leaving the packet to mqtt-packet, for any other
 * packet, and for any that is unusual or malformed (reserved flags, QoS 3, a Remaining Length
 * that does not match the buffer, MQTT 5 properties, an acknowledgement longer than its
 * common forms), so that errors and their messages are the library's. Never throws.
 *
 * The payload is a view of `bytes`, as mqtt-packet's is: the splitter hands out views of
 * received chunks (or of a buffer it joined), never of a buffer it reuses.
 */
export function decodeHotPacket(bytes: Buffer, version: number, names?: RecentName): Packet | undefined {
  const end = bytes.length;
  const first = bytes[0];
  if (first === undefined || end < 2) return undefined;
  // Remaining Length, read the way mqtt-packet reads it: at most 4 bytes, non-minimal forms allowed.
  let length = 0;
  let multiplier = 1;
  let pos = 1;
  for (;;) {
    const byte = bytes[pos++];
    if (byte === undefined || pos > 5) return undefined; // past the end, or a fifth length byte
    length += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) break;
    multiplier *= 128;
  }
  if (pos + length !== end) return undefined;
  switch (first >> 4) {
    case 3:
      return decodePublish(bytes, first, pos, length, version === 5, names);
    case 4:
      return first === 0x40
        ? decodeAck(bytes, 'puback', pos, length, version, PUBACK_PUBREC_REASONS)
        : undefined;
    case 5:
      return first === 0x50
        ? decodeAck(bytes, 'pubrec', pos, length, version, PUBACK_PUBREC_REASONS)
        : undefined;
    case 6:
      return first === 0x62
        ? decodeAck(bytes, 'pubrel', pos, length, version, PUBREL_PUBCOMP_REASONS)
        : undefined;
    case 7:
      return first === 0x70
        ? decodeAck(bytes, 'pubcomp', pos, length, version, PUBREL_PUBCOMP_REASONS)
        : undefined;
    case 12:
      return first === 0xc0 && length === 0 ? (header('pingreq', first, 0) as Packet) : undefined;
    default:
      return undefined;
  }
}

/** PUBLISH (MQTT 5 §3.3): topic, packet identifier for QoS 1 and 2, and (v5) no properties. */
function decodePublish(
  bytes: Buffer,
  first: number,
  start: number,
  length: number,
  v5: boolean,
  names: RecentName | undefined,
): Packet | undefined {
  const qos = (first >> 1) & 0x03;
  if (qos === 3) return undefined;
  const end = bytes.length;
  const topicStart = start + 2;
  if (topicStart > end) return undefined;
  // Each `!` read below is behind the bounds check before it.
  const topicEnd = topicStart + ((bytes[start]! << 8) | bytes[start + 1]!);
  if (topicEnd > end) return undefined;
  let pos = topicEnd;
  let messageId = 0;
  if (qos > 0) {
    if (pos + 2 > end) return undefined;
    messageId = (bytes[pos]! << 8) | bytes[pos + 1]!;
    pos += 2;
  }
  if (v5) {
    // Property Length 0 in its one-byte form; anything else is left to mqtt-packet.
    if (pos >= end || bytes[pos] !== 0) return undefined;
    pos++;
  }
  const packet = header('publish', first, length);
  let topic = names?.lookup(bytes, topicStart, topicEnd);
  if (topic === undefined) {
    // Ill-formed UTF-8 becomes U+FFFD, as in mqtt-packet (which decodes the same way).
    topic = bytes.toString('utf8', topicStart, topicEnd);
    names?.remember(bytes, topicStart, topicEnd, topic);
  }
  packet.topic = topic;
  if (qos > 0) packet.messageId = messageId;
  packet.payload = bytes.subarray(pos, end);
  return packet as Packet;
}

/**
 * PUBACK, PUBREC, PUBREL, PUBCOMP: the packet identifier alone (every version), or with a
 * reason code the library accepts (v5, Remaining Length 3). v5 without a reason code reads as
 * reason 0, as in mqtt-packet.
 */
function decodeAck(
  bytes: Buffer,
  cmd: string,
  start: number,
  length: number,
  version: number,
  reasons: Uint8Array,
): Packet | undefined {
  // v5: the 2-byte form, reason code alone (3), or reason code and an empty property list (4,
  // what MQTT.js and mqtt-packet's encoder write); mqtt-packet gives all three the same shape.
  const v5Form = version === 5 && (length === 3 || (length === 4 && bytes[start + 3] === 0));
  if (length !== 2 && !v5Form) return undefined;
  const reasonCode = length >= 3 ? bytes[start + 2] : 0;
  if (reasonCode === undefined || reasons[reasonCode] === 0) return undefined;
  // bytes[0] is the header decodeHotPacket read; start + 1 < end since length >= 2.
  const packet = header(cmd, bytes[0]!, length);
  packet.messageId = (bytes[start]! << 8) | bytes[start + 1]!;
  if (version === 5) packet.reasonCode = reasonCode;
  return packet as Packet;
}
