/**
 * MQTT 3.1.1 on the wire, as little of it as the load generator needs: the handful of packets a
 * client sends, built by hand once and reused, and an incremental reader that looks at fixed
 * headers, remaining lengths and (only where an acknowledgement needs it) packet identifiers.
 */

export const CONNECT = 1;
export const CONNACK = 2;
export const PUBLISH = 3;
export const PUBACK = 4;
export const PUBREC = 5;
export const PUBREL = 6;
export const PUBCOMP = 7;
export const SUBSCRIBE = 8;
export const SUBACK = 9;
export const UNSUBSCRIBE = 10;
export const UNSUBACK = 11;
export const PINGREQ = 12;
export const PINGRESP = 13;
export const DISCONNECT = 14;

export type Qos = 0 | 1 | 2;

/** Largest remaining length MQTT allows (four length bytes). */
const MAX_REMAINING = 268_435_455;
/** Non-PUBLISH packets are read whole; nothing a broker sends a client here is anywhere near this. */
const MAX_CONTROL_BODY = 65_536;

/** Bytes the remaining-length field of a packet takes. */
export function remainingLengthSize(length: number): number {
  return length < 0x80 ? 1 : length < 0x4000 ? 2 : length < 0x200000 ? 3 : 4;
}

/** Writes the fixed header at `out[0]`; returns where the variable header starts. */
function writeFixedHeader(out: Buffer, byte0: number, remaining: number): number {
  out[0] = byte0;
  let i = 1;
  let v = remaining;
  do {
    let digit = v % 128;
    v = Math.floor(v / 128);
    if (v > 0) digit |= 0x80;
    out[i++] = digit;
  } while (v > 0);
  return i;
}

function packet(byte0: number, body: Buffer): Buffer {
  if (body.length > MAX_REMAINING) throw new Error('MQTT packet too large');
  const out = Buffer.allocUnsafe(1 + remainingLengthSize(body.length) + body.length);
  body.copy(out, writeFixedHeader(out, byte0, body.length));
  return out;
}

function utf8String(s: string): Buffer {
  const bytes = Buffer.from(s, 'utf8');
  if (bytes.length > 0xffff) throw new Error('MQTT string too long');
  const out = Buffer.allocUnsafe(2 + bytes.length);
  out.writeUInt16BE(bytes.length, 0);
  bytes.copy(out, 2);
  return out;
}

function u16(n: number): Buffer {
  const out = Buffer.allocUnsafe(2);
  out.writeUInt16BE(n, 0);
  return out;
}

/** CONNECT, protocol level 4 (3.1.1), no will, no credentials. */
export function connectPacket(clientId: string, keepaliveSec: number, cleanSession = true): Buffer {
  const head = Buffer.from([0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, cleanSession ? 0x02 : 0x00]);
  return packet(0x10, Buffer.concat([head, u16(keepaliveSec), utf8String(clientId)]));
}

export function subscribePacket(packetId: number, filter: string, qos: Qos): Buffer {
  return packet(0x82, Buffer.concat([u16(packetId), utf8String(filter), Buffer.from([qos])]));
}

/** PUBLISH; the packet id is written only for QoS 1 and 2. */
export function publishPacket(
  topic: string,
  payload: Buffer,
  qos: Qos,
  packetId = 1,
  retain = false,
): Buffer {
  const id = qos > 0 ? u16(packetId) : Buffer.alloc(0);
  return packet(0x30 | (qos << 1) | (retain ? 1 : 0), Buffer.concat([utf8String(topic), id, payload]));
}

/** Where the packet id of a QoS 1/2 PUBLISH built by `publishPacket` sits. */
export function publishIdOffset(bytes: Buffer): number {
  let i = 1;
  while (bytes[i]! & 0x80) i++; // a built packet's remaining length ends with a byte < 0x80
  return i + 1 + 2 + bytes.readUInt16BE(i + 1);
}

/** PUBACK, PUBREC, PUBREL (flags 0b0010) or PUBCOMP: four bytes. */
export function writeAck(out: Buffer, at: number, type: number, packetId: number): number {
  out[at] = (type << 4) | (type === PUBREL ? 0x02 : 0);
  out[at + 1] = 2;
  out[at + 2] = packetId >>> 8;
  out[at + 3] = packetId & 0xff;
  return at + 4;
}

export function ackPacket(type: number, packetId: number): Buffer {
  const out = Buffer.allocUnsafe(4);
  writeAck(out, 0, type, packetId);
  return out;
}

export const PINGREQ_PACKET = Buffer.from([0xc0, 0x00]);
export const DISCONNECT_PACKET = Buffer.from([0xe0, 0x00]);

/** What a reader tells its owner. */
export interface MqttPacketHandler {
  /**
   * One whole PUBLISH. `packetId` is 0 for QoS 0. When the reader captures bytes, the first
   * `captured` bytes of the packet's body (topic included) are in `reader.capture`.
   */
  onPublish(byte0: number, packetId: number, captured: number): void;
  /** PUBACK, PUBREC, PUBREL or PUBCOMP, by packet id (read without copying when not split). */
  onAck(type: number, packetId: number): void;
  /** Any other packet, whole (CONNACK, SUBACK, PINGRESP, …); `body` is a copy. */
  onControl(type: number, byte0: number, body: Buffer): void;
}

const HEADER = 0;
const BODY = 1;

/**
 * Incremental parser of the packets a broker sends. A PUBLISH is never copied: its fixed header
 * and remaining length are read, its packet id (QoS 1/2 only) is found after the topic, and the
 * rest is skipped, unless `capture` is set (latency sampling), which keeps the first bytes of each
 * body. Acknowledgements are read in place; other packets are small and are gathered whole.
 */
export class MqttReader {
  /** The first bytes of the current PUBLISH body when capturing, else null. */
  readonly capture: Buffer | null;
  private captured = 0;
  private state: number = HEADER;
  private readonly header = Buffer.alloc(5);
  private headerLength = 0;
  private byte0 = 0;
  private type = 0;
  /** Body bytes of the current packet not yet consumed. */
  private remaining = 0;
  /** Body bytes to gather before the packet can be understood (0 = only skipping left). */
  private need = 0;
  private gather = Buffer.alloc(64);
  private gathered = 0;
  private packetId = 0;

  constructor(
    private readonly handler: MqttPacketHandler,
    captureBytes = 0,
  ) {
    this.capture = captureBytes > 0 ? Buffer.allocUnsafe(captureBytes) : null;
  }

  /** Parses `chunk[start, end)`; nothing of it is kept after return (the buffer may be reused). */
  push(chunk: Buffer, start = 0, end = chunk.length): void {
    let i = start;
    // Each `!` read below is behind the `end - i` check before it (or i < end); header[0..4]
    // is a fixed 5-byte buffer read below headerLength.
    while (i < end) {
      if (this.state === HEADER) {
        if (this.headerLength === 0 && end - i >= 2 && chunk[i + 1]! < 0x80) {
          // Fast path: a one-byte remaining length (every packet under 128 bytes).
          this.begin(chunk[i]!, chunk[i + 1]!);
          i += 2;
        } else if (this.headerLength === 0 && end - i >= 3 && chunk[i + 2]! < 0x80) {
          // Fast path: two length bytes (up to 16 KiB, e.g. a 128-byte publication).
          this.begin(chunk[i]!, (chunk[i + 1]! & 0x7f) + chunk[i + 2]! * 128);
          i += 3;
        } else {
          this.header[this.headerLength++] = chunk[i++]!;
          if (this.headerLength < 2 || this.header[this.headerLength - 1]! & 0x80) {
            if (this.headerLength === 5) throw new Error('malformed MQTT remaining length');
            continue;
          }
          let length = 0;
          let scale = 1;
          for (let j = 1; j < this.headerLength; j++) {
            length += (this.header[j]! & 0x7f) * scale;
            scale *= 128;
          }
          this.headerLength = 0;
          this.begin(this.header[0]!, length);
        }
        if (this.remaining === 0) this.finish();
        continue;
      }
      // BODY
      if (this.need > 0) {
        if (this.gathered === 0 && end - i >= this.need) {
          // Fast path: what is needed is all in this chunk, read it in place.
          i = this.understand(chunk, i, end);
          continue;
        }
        const take = Math.min(this.need - this.gathered, end - i);
        if (this.gather.length < this.need) {
          const bigger = Buffer.alloc(Math.max(this.need, this.gather.length * 2));
          this.gather.copy(bigger, 0, 0, this.gathered);
          this.gather = bigger;
        }
        chunk.copy(this.gather, this.gathered, i, i + take);
        this.gathered += take;
        i += take;
        if (this.gathered < this.need) continue;
        // `understand` consumes from the gathered copy; the chunk position is already past it.
        const used = this.gathered;
        this.gathered = 0;
        const consumed = this.understand(this.gather, 0, used);
        // A PUBLISH whose topic length was just learnt may need more than was gathered so far:
        // `understand` then set a larger `need` and kept the gathered bytes (consumed = 0).
        if (consumed === 0) this.gathered = used;
        continue;
      }
      const take = Math.min(this.remaining, end - i);
      this.keep(chunk, i, take);
      i += take;
      this.remaining -= take;
      if (this.remaining === 0) this.finish();
    }
  }

  private begin(byte0: number, length: number): void {
    this.byte0 = byte0;
    this.type = byte0 >> 4;
    this.remaining = length;
    this.state = BODY;
    this.packetId = 0;
    this.captured = 0;
    this.gathered = 0;
    if (this.type === PUBLISH) {
      // QoS 1/2: the topic length (2 bytes) first, then topic + packet id.
      this.need = (byte0 & 0x06) !== 0 ? 2 : 0;
    } else {
      if (length > MAX_CONTROL_BODY) throw new Error(`MQTT packet type ${this.type} of ${length} bytes`);
      this.need = length;
    }
    if (this.need > length) throw new Error('malformed MQTT PUBLISH: too short for its packet id');
  }

  /**
   * `buf[at, end)` holds at least `need` bytes of the body's start: reads what is needed from it.
   * Returns the position after the bytes it consumed, or `at` when it needs more first.
   */
  private understand(buf: Buffer, at: number, end: number): number {
    if (this.type === PUBLISH) {
      if (this.need === 2) {
        const topicLength = buf.readUInt16BE(at);
        this.need = 2 + topicLength + 2;
        if (this.need > this.remaining) throw new Error('malformed MQTT PUBLISH: topic past the packet');
        if (end - at < this.need) return at;
      }
      this.packetId = buf.readUInt16BE(at + this.need - 2);
      const take = this.need;
      this.need = 0;
      this.keep(buf, at, take);
      this.remaining -= take;
      if (this.remaining === 0) this.finish();
      return at + take;
    }
    const take = this.need;
    this.need = 0;
    this.remaining -= take;
    const type = this.type;
    if (type >= PUBACK && type <= PUBCOMP) {
      if (take < 2) throw new Error(`malformed MQTT acknowledgement (type ${type})`);
      this.state = HEADER;
      this.handler.onAck(type, buf.readUInt16BE(at));
    } else {
      this.state = HEADER;
      this.handler.onControl(type, this.byte0, Buffer.from(buf.subarray(at, at + take)));
    }
    return at + take;
  }

  private keep(buf: Buffer, at: number, n: number): void {
    const capture = this.capture;
    if (capture === null) return;
    const room = Math.min(n, capture.length - this.captured);
    if (room <= 0) return;
    buf.copy(capture, this.captured, at, at + room);
    this.captured += room;
  }

  private finish(): void {
    this.state = HEADER;
    if (this.type === PUBLISH) this.handler.onPublish(this.byte0, this.packetId, this.captured);
    else {
      // A packet with an empty body (PINGRESP, DISCONNECT): `understand` never ran.
      const type = this.type;
      if (type >= PUBACK && type <= PUBCOMP) throw new Error(`malformed MQTT acknowledgement (type ${type})`);
      this.handler.onControl(type, this.byte0, Buffer.alloc(0));
    }
  }
}
