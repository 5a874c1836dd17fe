import { Buffer } from 'node:buffer';

/** What a PUBLISH without properties carries (MQTT 5: an empty property list). */
export interface BarePublish {
  topic: string;
  payload: Uint8Array;
  qos: 0 | 1 | 2;
  retain: boolean;
  dup: boolean;
  /** Written for QoS 1/2 only. */
  packetId: number;
  /** 3 and 4 have no property list; 5 an empty one. */
  version: 3 | 4 | 5;
}

/** MQTT's largest remaining length (§1.5.5). */
const MAX_REMAINING_LENGTH = 268_435_455;

/**
 * A PUBLISH packet without properties, written straight into one buffer: the packet every
 * delivery of a plain publication copies (publish-encoding.ts). mqtt-packet's generate writes
 * the same bytes (test/publish-writer.test.ts compares them) through a stream of small
 * writes, which was the largest share of the server's CPU per message in the unbatched case.
 */
export function encodeBarePublish(p: BarePublish): Buffer {
  const topicBytes = Buffer.byteLength(p.topic, 'utf8');
  const remaining = 2 + topicBytes + (p.qos > 0 ? 2 : 0) + (p.version === 5 ? 1 : 0) + p.payload.length;
  if (remaining > MAX_REMAINING_LENGTH) throw new RangeError(`PUBLISH of ${remaining} bytes is too large`);
  const lengthBytes = remaining < 128 ? 1 : remaining < 16_384 ? 2 : remaining < 2_097_152 ? 3 : 4;
  const out = Buffer.allocUnsafe(1 + lengthBytes + remaining);
  out[0] = 0x30 | (p.dup ? 0x08 : 0) | (p.qos << 1) | (p.retain ? 0x01 : 0);
  let i = 1;
  let n = remaining;
  do {
    const digit = n % 128;
    n = Math.floor(n / 128);
    out[i++] = n > 0 ? digit | 0x80 : digit;
  } while (n > 0);
  out.writeUInt16BE(topicBytes, i);
  i += 2;
  i += out.write(p.topic, i, 'utf8');
  if (p.qos > 0) {
    out.writeUInt16BE(p.packetId, i);
    i += 2;
  }
  if (p.version === 5) out[i++] = 0;
  out.set(p.payload, i);
  return out;
}
