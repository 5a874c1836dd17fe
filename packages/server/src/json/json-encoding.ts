import { isUtf8 } from 'node:buffer';
import type { Message, Publication } from '@pulse/core';
import { Opcode, PresenceAction, headerSize, writeHeader } from '@pulse/protocol';
import { entriesWithin } from '../channels/history-budget.js';
import { JSON_WIRE_SLOT } from '../encoding-slots.js';

const textLength = (text: string): number => text.length;

/** One unmasked WebSocket text frame holding `text`, encoded straight into its buffer. */
export function textFrame(text: string): Buffer {
  const length = Buffer.byteLength(text, 'utf8');
  const size = headerSize(length);
  const out = Buffer.allocUnsafe(size + length);
  writeHeader(out, 0, Opcode.Text, length);
  out.write(text, size, 'utf8');
  return out;
}

const asBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/**
 * The `data` member(s) for a payload (docs/PROTOCOL.md, "Payloads across protocols"): the payload itself when its bytes are
 * UTF-8 JSON text (embedded as is, so big numbers and key order survive), else
 * `"data":"<base64>","encoding":"base64"`.
 */
export function dataMembers(payload: Uint8Array): string {
  const bytes = asBuffer(payload);
  if (bytes.length > 0 && isUtf8(bytes)) {
    const text = bytes.toString('utf8');
    try {
      JSON.parse(text);
      return `"data":${text}`;
    } catch {
      // Not JSON text: an expected outcome, not a fault; it goes as base64 below.
    }
  }
  return `"data":"${bytes.toString('base64')}","encoding":"base64"`;
}

/**
 * JSON.stringify replacer for values that came from other protocols (presence data decoded
 * from MessagePack): binary as base64, 64-bit integers as numbers (or strings past 2^53).
 */
function portable(this: unknown, key: string, value: unknown): unknown {
  const original = (this as Record<string, unknown>)[key];
  if (original instanceof Uint8Array) return asBuffer(original).toString('base64');
  if (typeof value === 'bigint') {
    const n = Number(value);
    return Number.isSafeInteger(n) ? n : value.toString();
  }
  return value;
}

/** JSON text of a value that may hold binary or bigint values (see `portable`). */
export function toJson(value: unknown): string {
  return JSON.stringify(value, portable) ?? 'null';
}

/** `{"offset":1,"data":...,"event":"..."}`: one entry of a `history` result. */
export function historyEntry(p: Publication): string {
  let s = `{"offset":${p.offset},${dataMembers(p.payload)}`;
  if (p.event !== undefined) s += `,"event":${JSON.stringify(p.event)}`;
  return `${s}}`;
}

/**
 * The members `"publications":[…],"offset":N,"epoch":"…"` of a history page, at most
 * `budget` bytes of entries but always one: the oldest that fit when paging forward from a
 * position (`forward`), else the newest.
 */
export function historyPageMembers(
  page: { publications: Publication[]; offset: number; epoch: string },
  forward: boolean,
  budget: number,
): string {
  // Each entry but the last is followed by a comma.
  const entries = entriesWithin(page.publications, forward, budget, historyEntry, textLength, 1);
  return `"publications":[${entries.join(',')}],"offset":${page.offset},"epoch":${JSON.stringify(page.epoch)}`;
}

const PRESENCE_PUSH: Record<number, string> = {
  [PresenceAction.Join]: 'join',
  [PresenceAction.Leave]: 'leave',
  [PresenceAction.Update]: 'update',
};

function pushText(message: Message): string {
  if (message.kind === 'publication') {
    let s = `{"method":"publication","params":{"channel":${JSON.stringify(message.channel)},${dataMembers(message.payload)}`;
    if (message.event !== undefined) s += `,"event":${JSON.stringify(message.event)}`;
    if (message.offset !== undefined) {
      s += `,"offset":${message.offset},"epoch":${JSON.stringify(message.epoch)}`;
    }
    return `${s}}}`;
  }
  const params: Record<string, unknown> = { channel: message.channel, connection_id: message.connectionId };
  if (message.user !== undefined) params.user = message.user;
  if (message.data !== undefined) params.data = message.data;
  return toJson({ method: PRESENCE_PUSH[message.action] ?? 'update', params });
}

/** The push of `message` as a text frame, built once per message and shared by every JSON subscriber. */
export function jsonWireBytes(message: Message): Buffer {
  const cached = message.encodings[JSON_WIRE_SLOT];
  if (cached) return cached;
  const bytes = textFrame(pushText(message));
  message.encodings[JSON_WIRE_SLOT] = bytes;
  return bytes;
}
