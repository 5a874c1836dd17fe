import { Opcode } from './opcodes.js';

/** Size of the header of an unmasked (server-to-client) frame carrying `payloadLength` bytes. */
export function headerSize(payloadLength: number): number {
  return payloadLength < 126 ? 2 : payloadLength < 65536 ? 4 : 10;
}

/** Writes an unmasked, final frame header at `offset`; returns the header size. */
export function writeHeader(target: Buffer, offset: number, opcode: number, payloadLength: number): number {
  target[offset] = 0x80 | opcode;
  if (payloadLength < 126) {
    target[offset + 1] = payloadLength;
    return 2;
  }
  if (payloadLength < 65536) {
    target[offset + 1] = 126;
    target.writeUInt16BE(payloadLength, offset + 2);
    return 4;
  }
  target[offset + 1] = 127;
  target.writeUInt32BE(Math.floor(payloadLength / 2 ** 32), offset + 2);
  target.writeUInt32BE(payloadLength >>> 0, offset + 6);
  return 10;
}

/** A complete unmasked frame: header + payload in one buffer, shareable by every receiver. */
export function frame(opcode: number, payload: Uint8Array): Buffer {
  const size = headerSize(payload.length);
  const out = Buffer.allocUnsafe(size + payload.length);
  writeHeader(out, 0, opcode, payload.length);
  out.set(payload, size);
  return out;
}

/**
 * Turns a buffer whose first `headroom` bytes were left free into a binary frame, writing the
 * header right before the payload so that nothing is copied. Returns the view of the frame.
 */
export function binaryFrameInPlace(buffer: Buffer, headroom: number): Buffer {
  const payloadLength = buffer.length - headroom;
  const size = headerSize(payloadLength);
  if (size > headroom) throw new RangeError(`headroom ${headroom} < header ${size}`);
  const start = headroom - size;
  writeHeader(buffer, start, Opcode.Binary, payloadLength);
  return buffer.subarray(start);
}

export function closeFrame(code: number, reason = ''): Buffer {
  let reasonBytes = Buffer.from(reason, 'utf8');
  if (reasonBytes.length > 123) {
    // Cut on a character boundary: a split multi-byte character is invalid UTF-8 (peers close with 1007).
    let end = 123;
    while (end > 0 && (reasonBytes[end]! & 0xc0) === 0x80) end--; // end <= 123 < length
    reasonBytes = reasonBytes.subarray(0, end);
  }
  const payload = Buffer.allocUnsafe(2 + reasonBytes.length);
  payload.writeUInt16BE(code, 0);
  reasonBytes.copy(payload, 2);
  return frame(Opcode.Close, payload);
}

/** Headroom that fits any server frame header. */
export const MAX_HEADER_SIZE = 10;
