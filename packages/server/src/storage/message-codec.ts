import type { StoredMessage, StoredSubscription } from '@pulse/core';
import { Packr } from 'msgpackr';

/**
 * MessagePack for the blobs of the SQLite store: plain maps (no records, whose structures
 * would have to be stored too), absent fields left out, binary values back as Buffer.
 */
// `skipValues` exists in msgpackr 2 but is missing from its type definitions.
const packr = new Packr({
  useRecords: false,
  moreTypes: false,
  mapsAsObjects: true,
  int64AsType: 'number',
  skipValues: [undefined],
} as ConstructorParameters<typeof Packr>[0]);

/** What a message keeps in its `meta` column: everything but channel, payload and expiry. */
interface Meta {
  /** qos */
  q: 0 | 1 | 2;
  /** retain */
  r: boolean;
  /** event */
  e?: string;
  /** properties */
  p?: Record<string, unknown>;
  /** The message's channel, when it differs from the row's (history rows only). */
  c?: string;
  /** The message's expiresAt (history rows only: their expires_at column is the entry's). */
  x?: number;
}

/**
 * The meta of a message with neither event nor properties (most MQTT messages): one byte,
 * `qos | retain << 2`, so the common case skips MessagePack on the way in and out.
 */
const PLAIN_META = [0, 1, 2, 4, 5, 6].map((byte) => Buffer.from([byte]));

/** A message's `meta` blob. Packed right before it is bound: msgpackr's buffers are views of a slab. */
export function packMeta(message: StoredMessage): Buffer {
  if (message.event === undefined && message.properties === undefined) {
    return PLAIN_META[message.qos + (message.retain ? 3 : 0)] as Buffer; // qos 0-2 (+3 retained): 0-5
  }
  return packr.pack({
    q: message.qos,
    r: message.retain,
    e: message.event,
    p: message.properties,
  } satisfies Meta);
}

/** The `meta` blob of a history row, which also carries the message's own channel and expiry. */
export function packHistoryMeta(channel: string, message: StoredMessage): Buffer {
  return packr.pack({
    q: message.qos,
    r: message.retain,
    e: message.event,
    p: message.properties,
    c: message.channel === channel ? undefined : message.channel,
    x: message.expiresAt,
  } satisfies Meta);
}

/** A message from its columns; optional fields that were absent stay absent. */
export function messageOf(
  channel: string,
  payload: Buffer,
  expiresAt: number | null,
  meta: Buffer,
): StoredMessage {
  if (meta.length === 1) {
    const byte = meta[0] as number; // length 1
    const message: StoredMessage = {
      channel,
      payload,
      qos: (byte & 3) as 0 | 1 | 2,
      retain: (byte & 4) !== 0,
    };
    if (expiresAt !== null) message.expiresAt = expiresAt;
    return message;
  }
  const m = packr.unpack(meta) as Meta;
  const message: StoredMessage = { channel: m.c ?? channel, payload, qos: m.q, retain: m.r };
  if (m.e !== undefined) message.event = m.e;
  if (m.p !== undefined) message.properties = m.p;
  if (expiresAt !== null) message.expiresAt = expiresAt;
  else if (m.x !== undefined) message.expiresAt = m.x;
  return message;
}

export function packSubscriptions(subscriptions: StoredSubscription[]): Buffer {
  return packr.pack(subscriptions);
}

export function unpackSubscriptions(blob: Buffer): StoredSubscription[] {
  return packr.unpack(blob) as StoredSubscription[];
}

export function packIds(ids: number[] | undefined): Buffer | null {
  return ids === undefined ? null : packr.pack(ids);
}

export function unpackIds(blob: Buffer | null): number[] | undefined {
  return blob === null ? undefined : (packr.unpack(blob) as number[]);
}
