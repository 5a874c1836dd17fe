import { Buffer } from 'node:buffer';
import { encodeFrame, LENGTH_PREFIX_BYTES } from './encode.js';

/** What a server → client `publish` frame carries (PublishFrame without the client's `id`). */
export interface PublishFields {
  channel: string;
  event?: string;
  payload: Uint8Array;
  offset?: number;
  epoch?: string;
}

const fixstr = (s: string): Buffer => Buffer.concat([Buffer.of(0xa0 | s.length), Buffer.from(s, 'latin1')]);
const TYPE_PUBLISH = Buffer.concat([fixstr('type'), fixstr('publish')]);
const KEY_CHANNEL = fixstr('channel');
const KEY_EVENT = fixstr('event');
const KEY_PAYLOAD = fixstr('payload');
const KEY_OFFSET = fixstr('offset');
const KEY_EPOCH = fixstr('epoch');

const strHeaderSize = (n: number): number => (n < 32 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5);
const binHeaderSize = (n: number): number => (n < 0x100 ? 2 : n < 0x10000 ? 3 : 5);
const uintSize = (n: number): number => (n < 0x80 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5);

/**
 * A `publish` frame (u32 length + MessagePack map) written straight into one buffer, with
 * `headroom` free bytes in front: the frame every delivery of a publication copies
 * (native-encoding.ts in the server). The bytes are msgpackr's for the same frame
 * (test/native-publish-writer.test.ts compares them), keys in the same order, absent ones
 * left out; an offset that is not a 32-bit unsigned integer goes through msgpackr. One
 * difference: a lone surrogate in a string (possible from a JSON client's "\ud800") becomes
 * U+FFFD, valid UTF-8, where msgpackr writes the surrogate's three bytes, which are not UTF-8.
 * msgpackr's generic encoder was ~7 % of the server's CPU for a message travelling alone.
 */
export function encodePublishFrame(f: PublishFields, headroom = 0): Buffer {
  const { channel, event, payload, offset, epoch } = f;
  // null (msgpackr writes nil) is not a field the writer knows; no producer makes one today.
  const unusual = event === null || epoch === null;
  if (
    unusual ||
    (offset !== undefined && !(Number.isInteger(offset) && offset >= 0 && offset <= 0xffff_ffff))
  ) {
    return encodeFrame({ type: 'publish', channel, event, payload, offset, epoch }, headroom);
  }
  const channelBytes = Buffer.byteLength(channel, 'utf8');
  const eventBytes = event === undefined ? 0 : Buffer.byteLength(event, 'utf8');
  const epochBytes = epoch === undefined ? 0 : Buffer.byteLength(epoch, 'utf8');
  let entries = 3;
  let size = 1 + TYPE_PUBLISH.length;
  size += KEY_CHANNEL.length + strHeaderSize(channelBytes) + channelBytes;
  if (event !== undefined) {
    entries++;
    size += KEY_EVENT.length + strHeaderSize(eventBytes) + eventBytes;
  }
  size += KEY_PAYLOAD.length + binHeaderSize(payload.length) + payload.length;
  if (offset !== undefined) {
    entries++;
    size += KEY_OFFSET.length + uintSize(offset);
  }
  if (epoch !== undefined) {
    entries++;
    size += KEY_EPOCH.length + strHeaderSize(epochBytes) + epochBytes;
  }
  const out = Buffer.allocUnsafe(headroom + LENGTH_PREFIX_BYTES + size);
  out.writeUInt32BE(size, headroom);
  let i = headroom + LENGTH_PREFIX_BYTES;
  out[i++] = 0x80 | entries;
  i += TYPE_PUBLISH.copy(out, i);
  i += KEY_CHANNEL.copy(out, i);
  i = writeStr(out, i, channel, channelBytes);
  if (event !== undefined) {
    i += KEY_EVENT.copy(out, i);
    i = writeStr(out, i, event, eventBytes);
  }
  i += KEY_PAYLOAD.copy(out, i);
  i = writeHeader(out, i, payload.length, 0xc4);
  out.set(payload, i);
  i += payload.length;
  if (offset !== undefined) {
    i += KEY_OFFSET.copy(out, i);
    i = writeUint(out, i, offset);
  }
  if (epoch !== undefined) {
    i += KEY_EPOCH.copy(out, i);
    writeStr(out, i, epoch, epochBytes);
  }
  return out;
}

function writeStr(out: Buffer, at: number, s: string, bytes: number): number {
  let i = bytes < 32 ? at + 1 : writeHeader(out, at, bytes, 0xd9);
  if (bytes < 32) out[at] = 0xa0 | bytes;
  i += out.write(s, i, 'utf8');
  return i;
}

/** The 8-, 16- or 32-bit length header of a str (first byte 0xd9) or bin (0xc4) family. */
function writeHeader(out: Buffer, at: number, n: number, first8: number): number {
  if (n < 0x100) {
    out[at] = first8;
    out[at + 1] = n;
    return at + 2;
  }
  if (n < 0x10000) {
    out[at] = first8 + 1;
    out.writeUInt16BE(n, at + 1);
    return at + 3;
  }
  out[at] = first8 + 2;
  out.writeUInt32BE(n, at + 1);
  return at + 5;
}

function writeUint(out: Buffer, at: number, n: number): number {
  if (n < 0x80) {
    out[at] = n;
    return at + 1;
  }
  if (n < 0x100) {
    out[at] = 0xcc;
    out[at + 1] = n;
    return at + 2;
  }
  if (n < 0x10000) {
    out[at] = 0xcd;
    out.writeUInt16BE(n, at + 1);
    return at + 3;
  }
  out[at] = 0xce;
  out.writeUInt32BE(n, at + 1);
  return at + 5;
}
