import { Refusal } from '@pulse/core';
import { ErrorCode, MAX_NESTING_DEPTH, msgpack, plainMessagePackProblem } from '@pulse/protocol';

/**
 * Deepest presence data, its own map counting as level 1: a sync reply nests each member's
 * data two levels below the frame's map, and every frame must stay within MAX_NESTING_DEPTH.
 */
export const MAX_PRESENCE_DATA_DEPTH = MAX_NESTING_DEPTH - 2;

export interface CheckedPresenceData {
  /** The data to keep: its own copy, holding no view of the buffer it arrived in. */
  readonly data: Record<string, unknown> | undefined;
  /** Its size as the client's protocol encodes it: held to presence.max_data_bytes. */
  readonly bytes: number;
}

const tooDeep = () =>
  new Refusal(ErrorCode.InvalidFrame, `presence data nests deeper than ${MAX_PRESENCE_DATA_DEPTH} levels`);

/**
 * Presence data of a native frame. The binaries msgpackr decoded are views of the frame's
 * buffer (up to limits.max_frame_size), which a member would keep alive while present: the
 * data is decoded again from its own encoding, whose size is its measure.
 */
export function nativePresenceData(data: Record<string, unknown> | undefined): CheckedPresenceData | Refusal {
  if (data === undefined) return { data, bytes: 0 };
  const encoded = Buffer.from(msgpack.pack(data));
  if (plainMessagePackProblem(encoded, MAX_PRESENCE_DATA_DEPTH) !== undefined) return tooDeep();
  return { data: msgpack.unpack(encoded) as Record<string, unknown>, bytes: encoded.length };
}

/** Presence data of a JSON request (JSON.parse made it, it owns its values); measured as JSON text. */
export function jsonPresenceData(data: Record<string, unknown> | undefined): CheckedPresenceData | Refusal {
  if (data === undefined) return { data, bytes: 0 };
  if (plainMessagePackProblem(msgpack.pack(data), MAX_PRESENCE_DATA_DEPTH) !== undefined) return tooDeep();
  return { data, bytes: Buffer.byteLength(JSON.stringify(data)) };
}
