/**
 * The client half of RFC 6455 framing, as cheap as it can be: outgoing frames are masked with a
 * constant key (servers must accept any key), incoming frames are parsed header by header and their
 * payload bytes are handed on only to a sink that asks for them.
 */

export const OPCODE_CONTINUATION = 0x0;
export const OPCODE_TEXT = 0x1;
export const OPCODE_BINARY = 0x2;
export const OPCODE_CLOSE = 0x8;
export const OPCODE_PING = 0x9;
export const OPCODE_PONG = 0xa;

const MASK_KEY = [0x5a, 0x17, 0xc3, 0x8e] as const;

/** Size of the client frame header (with its 4-byte mask key) for a payload of `length` bytes. */
export function maskedHeaderSize(length: number): number {
  return (length < 126 ? 2 : length < 0x10000 ? 4 : 10) + 4;
}

/**
 * Writes one final, masked client frame carrying `payload` into `out` at `at`; returns the offset after it.
 * `out` must have `maskedHeaderSize(payload.length) + payload.length` bytes free.
 */
export function writeMaskedFrame(out: Buffer, at: number, opcode: number, payload: Uint8Array): number {
  const len = payload.length;
  let i = at;
  out[i++] = 0x80 | opcode;
  if (len < 126) {
    out[i++] = 0x80 | len;
  } else if (len < 0x10000) {
    out[i++] = 0x80 | 126;
    out.writeUInt16BE(len, i);
    i += 2;
  } else {
    out[i++] = 0x80 | 127;
    out.writeUInt32BE(Math.floor(len / 0x100000000), i);
    out.writeUInt32BE(len >>> 0, i + 4);
    i += 8;
  }
  out[i++] = MASK_KEY[0];
  out[i++] = MASK_KEY[1];
  out[i++] = MASK_KEY[2];
  out[i++] = MASK_KEY[3];
  // payload[j] with j < len = payload.length; MASK_KEY has four entries and j & 3 < 4.
  for (let j = 0; j < len; j++) out[i + j] = payload[j]! ^ MASK_KEY[j & 3]!;
  return i + len;
}

/** Masks (or unmasks) `bytes` in place as if they sat at `payloadOffset` in a client frame's payload. */
export function maskAt(bytes: Buffer, payloadOffset: number): void {
  // j < bytes.length; MASK_KEY has four entries and & 3 picks one.
  for (let j = 0; j < bytes.length; j++)
    bytes[j] = (bytes[j] as number) ^ (MASK_KEY[(payloadOffset + j) & 3] as number);
}

/** One masked client frame in a buffer of its own. */
export function maskedFrame(opcode: number, payload: Uint8Array | string): Buffer {
  const bytes = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const out = Buffer.allocUnsafe(maskedHeaderSize(bytes.length) + bytes.length);
  writeMaskedFrame(out, 0, opcode, bytes);
  return out;
}

/** Removes the client mask again (tests, and anyone reading what the generator sent). */
export function unmask(frame: Buffer): { opcode: number; payload: Buffer } {
  // A test helper: a frame too short to have its header fails on the reads below (NaN, then RangeError).
  let len = frame[1]! & 0x7f;
  let i = 2;
  if (len === 126) {
    len = frame.readUInt16BE(2);
    i = 4;
  } else if (len === 127) {
    len = frame.readUInt32BE(2) * 0x100000000 + frame.readUInt32BE(6);
    i = 10;
  }
  const key = frame.subarray(i, i + 4);
  const payload = Buffer.allocUnsafe(len);
  for (let j = 0; j < len; j++) payload[j] = frame[i + 4 + j]! ^ key[j & 3]!;
  return { opcode: frame[0]! & 0x0f, payload };
}

/**
 * Receives the application messages of one connection. `bytes` is only called when `wantsBytes` is
 * true: a counting sink leaves payloads untouched and only hears where each message ends.
 */
export interface MessageSink {
  readonly wantsBytes: boolean;
  bytes(chunk: Buffer, start: number, end: number): void;
  /** The data message (text or binary, possibly fragmented) that was being received is complete. */
  end(): void;
}

export type ControlHandler = (opcode: number, payload: Buffer) => void;

/**
 * Incremental parser for unmasked server frames. It copies nothing but a split header (at most 14
 * bytes) and control-frame payloads; data payloads are skipped or passed through as slices.
 */
export class WsReader {
  sink: MessageSink;
  private readonly onControl: ControlHandler;
  private readonly header = Buffer.alloc(14);
  private headerLength = 0;
  /** Payload bytes of the current frame not yet seen. */
  private remaining = 0;
  private inFrame = false;
  private frameOpcode = 0;
  private frameFin = false;
  private control: Buffer[] = [];

  constructor(sink: MessageSink, onControl: ControlHandler) {
    this.sink = sink;
    this.onControl = onControl;
  }

  /** Parses `chunk[start, end)`; nothing of it is kept after return (the buffer may be reused). */
  push(chunk: Buffer, start = 0, end = chunk.length): void {
    const n = end;
    let i = start;
    while (i < n) {
      if (this.inFrame) {
        const take = Math.min(this.remaining, n - i);
        if (this.frameOpcode >= OPCODE_CLOSE) this.control.push(Buffer.from(chunk.subarray(i, i + take)));
        else if (this.sink.wantsBytes) this.sink.bytes(chunk, i, i + take);
        i += take;
        this.remaining -= take;
        if (this.remaining === 0) this.endFrame();
        continue;
      }
      if (this.headerLength === 0 && n - i >= 2) {
        // Fast path: the whole header is in this chunk (each `!` read is behind `n - i >= 2`, or `need`).
        const b1 = chunk[i + 1]!;
        if (b1 & 0x80) throw new Error('server frame is masked');
        const len7 = b1 & 0x7f;
        if (len7 < 126) {
          this.beginFrame(chunk[i]!, len7);
          i += 2;
          continue;
        }
        const need = len7 === 126 ? 4 : 10;
        if (n - i >= need) {
          const len =
            len7 === 126
              ? chunk.readUInt16BE(i + 2)
              : chunk.readUInt32BE(i + 2) * 0x100000000 + chunk.readUInt32BE(i + 6);
          this.beginFrame(chunk[i]!, len);
          i += need;
          continue;
        }
      }
      // Slow path: gather a header split across chunks.
      this.header[this.headerLength++] = chunk[i++]!; // i < n
      if (this.headerLength < 2) continue;
      const len7 = this.header[1]! & 0x7f; // headerLength >= 2
      if (this.header[1]! & 0x80) throw new Error('server frame is masked');
      const need = len7 < 126 ? 2 : len7 === 126 ? 4 : 10;
      if (this.headerLength < need) continue;
      const len =
        len7 < 126
          ? len7
          : len7 === 126
            ? this.header.readUInt16BE(2)
            : this.header.readUInt32BE(2) * 0x100000000 + this.header.readUInt32BE(6);
      this.headerLength = 0;
      this.beginFrame(this.header[0]!, len);
    }
  }

  private beginFrame(b0: number, length: number): void {
    this.frameOpcode = b0 & 0x0f;
    this.frameFin = (b0 & 0x80) !== 0;
    this.remaining = length;
    this.inFrame = true;
    if (length === 0) this.endFrame();
  }

  private endFrame(): void {
    this.inFrame = false;
    if (this.frameOpcode >= OPCODE_CLOSE) {
      const parts = this.control;
      this.control = [];
      this.onControl(this.frameOpcode, parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts));
    } else if (this.frameFin) {
      this.sink.end();
    }
  }
}
