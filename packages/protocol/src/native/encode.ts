import type { Frame } from './frames.js';
import { msgpack } from './msgpack.js';

export const LENGTH_PREFIX_BYTES = 4;

/** Hard cap on one native frame (docs/PROTOCOL.md, "Framing"). */
export const MAX_FRAME_SIZE = 16 * 1024 * 1024;

/**
 * Encodes a frame as `u32 big-endian length` + MessagePack map, into a buffer of its own
 * (msgpackr hands out views of a shared slab; a frame that is cached or queued must not alias it).
 * `headroom` bytes are left free before the prefix, for a transport header written later.
 */
export function encodeFrame(frame: Frame, headroom = 0): Buffer {
  const body = msgpack.pack(frame);
  const out = Buffer.allocUnsafe(headroom + LENGTH_PREFIX_BYTES + body.length);
  out.writeUInt32BE(body.length, headroom);
  body.copy(out, headroom + LENGTH_PREFIX_BYTES);
  return out;
}
