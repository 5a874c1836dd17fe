/**
 * Where a cluster keeps channel history (docs/CLUSTER.md, "History and recovery"): the
 * engine's own server, so that a channel's offsets and epoch are the channel's, not a node's.
 * Implementations live beside this file (`redis-history.ts`, `nats-history.ts`) and pass one
 * contract suite (test/cluster-history-contract.ts).
 *
 * A stream is what one channel has: an epoch, the offset of its newest publication (offsets
 * 1, 2, 3… without gaps within an epoch), and its newest entries. An entry is opaque bytes (a
 * publication envelope without offset and epoch, checked by the layer above as any envelope).
 * Everything read back is hostile (a shared server): implementations check the shape of every
 * reply, and cap counts and bytes.
 */
import type { HistoryRule, StreamPosition } from '@pulse/core';

export interface StoredEntry {
  readonly offset: number;
  readonly bytes: Buffer;
  /** Date.now() at which it leaves history; undefined = only the rule's size pushes it out. */
  readonly expiresAt: number | undefined;
}

export interface StreamRead {
  readonly epoch: string;
  /** The offset of the stream's newest publication (0 for a stream without any yet). */
  readonly offset: number;
  /** Oldest first, contiguous or not (the server may have lost some): the reader checks. */
  readonly entries: StoredEntry[];
}

export interface StreamQuery {
  /** Entries with offsets above it (oldest first); undefined = the newest `limit`. */
  readonly after?: number;
  /** At most this many entries; 0 = the position only. */
  readonly limit: number;
}

export interface ClusterHistory {
  readonly kind: 'redis' | 'nats';
  /** True while appends and reads can be served. */
  readonly ready: boolean;
  /** Connects (and keeps reconnecting until close); resolves once the first attempt ended either way. */
  start(): Promise<void>;
  /**
   * Appends `entry` to `channel`'s stream and resolves with the offset and epoch it got, in call
   * order per channel on this node. A stream that does not exist yet is created with a new
   * epoch, and so is one whose offset is below `seen` (the newest position this node has seen in
   * that epoch): the server lost publications, and its old epoch would hand out offsets again.
   * Rejects with a one-line reason when the server did not take it.
   */
  append(
    channel: string,
    rule: HistoryRule,
    entry: Buffer,
    expiresAt: number | undefined,
    seen: StreamPosition | undefined,
  ): Promise<StreamPosition>;
  /** The stream's position and entries per `query` (a stream that does not exist is created empty, with a new epoch). */
  read(channel: string, rule: HistoryRule, query: StreamQuery): Promise<StreamRead>;
  close(): Promise<void>;
}

/** Entries read back at most per read, whatever the rule says. */
export const MAX_READ_ENTRIES = 10_000;

const EPOCH = /^[\x21-\x7e]{1,64}$/;

/** True for what an epoch may be: 1-64 printable ASCII characters. */
export function isEpoch(value: unknown): value is string {
  return typeof value === 'string' && EPOCH.test(value);
}

/** A fresh epoch (as ChannelHistory's, longer: many nodes make them). */
export function newClusterEpoch(): string {
  return Date.now().toString(36) + Math.random().toString(36).slice(2, 10).padEnd(8, '0');
}

/** The offset in `value` (a number or decimal text), or undefined when it is not one. */
export function offsetOf(value: unknown): number | undefined {
  const n =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && /^\d{1,16}$/.test(value)
        ? Number(value)
        : Number.NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}
