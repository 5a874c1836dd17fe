import { isServerChannel } from './channel.js';
import { heldBytes } from './held-bytes.js';
import type { Publication } from './outbound.js';
import { RetainedCursor } from './retained/retained-cursor.js';
import { ownedPublication } from './store/stored-message.js';
import { type TopicNode, TopicTree } from './retained/topic-tree.js';

export { PAUSED, RetainedCursor } from './retained/retained-cursor.js';

/** Least time between two scans for expired messages (ms): a client at the limit cannot make every publish a scan. */
const EXPIRY_SCAN_INTERVAL_MS = 100;

/** `full`: past the message count; `over_bytes`: past the byte total. */
export type RetainOutcome = 'stored' | 'cleared' | 'full' | 'over_bytes';

export interface RetainedLimits {
  /** Retained messages clients may keep at once. */
  maxMessages: number;
  /** Bytes they may keep at once (`heldBytes`: payload, topic and properties). */
  maxBytes: number;
}

/** Retained messages, one per channel (MQTT 5 §3.3.1.3). */
export interface RetainedStore {
  /** Stores (a copy owning its payload of) `publication` as its channel's retained message; an empty payload clears it. */
  set(publication: Publication): RetainOutcome;
  /** The channel's retained message, expired or not. */
  get(channel: string): Publication | undefined;
  /** The live retained messages matching `filter` and set before this call, walked lazily. */
  cursor(filter: string): RetainedCursor;
  /** The retained messages clients set (not the server's own $SYS), expired or not, in no order. */
  clientMessages(): IterableIterator<Publication>;
  readonly size: number;
  /** Bytes held by the messages that count towards the limits. */
  readonly bytes: number;
}

/**
 * The limits bound what clients can retain; the server's own `$` topics ($SYS) are stored
 * outside them, so that they never take a client's place.
 */
export class MemoryRetainedStore implements RetainedStore {
  private readonly tree = new TopicTree();
  private readonly nodes = new Map<string, TopicNode>();
  /** Stored messages that count towards the limits, and their bytes. */
  private counted = 0;
  private countedBytes = 0;
  /** Incremented by every write: cursors skip what was written after they began. */
  private seq = 0;
  /** No message expires before this (Date.now() ms); a scan before it would find nothing. */
  private nextExpiry = Number.POSITIVE_INFINITY;
  private lastExpiryScan = Number.NEGATIVE_INFINITY;

  constructor(private readonly limits: RetainedLimits) {}

  get size(): number {
    return this.nodes.size;
  }

  get bytes(): number {
    return this.countedBytes;
  }

  set(publication: Publication): RetainOutcome {
    const { channel } = publication;
    if (publication.payload.length === 0) {
      this.remove(channel);
      return 'cleared';
    }
    const bytes = heldBytes(publication);
    const counts = !isServerChannel(channel);
    if (counts) {
      const refused = this.limitReached(channel, bytes);
      if (refused !== undefined) return refused;
    }
    let node = this.nodes.get(channel);
    if (node === undefined) {
      node = this.tree.nodeFor(channel);
      this.nodes.set(channel, node);
      if (counts) this.counted++;
    } else if (counts) this.countedBytes -= (node.entry as { bytes: number }).bytes;
    if (counts) this.countedBytes += bytes;
    // Kept until replaced: its payload must not pin the socket read it was cut from.
    node.entry = { publication: ownedPublication(publication), seq: ++this.seq, bytes };
    const expiresAt = publication.expiresAt;
    if (expiresAt !== undefined && expiresAt < this.nextExpiry) this.nextExpiry = expiresAt;
    return 'stored';
  }

  get(channel: string): Publication | undefined {
    return this.nodes.get(channel)?.entry?.publication;
  }

  cursor(filter: string): RetainedCursor {
    return new RetainedCursor(this.tree.root, filter, this.seq);
  }

  *clientMessages(): IterableIterator<Publication> {
    for (const [channel, node] of this.nodes) {
      if (node.entry !== undefined && !isServerChannel(channel)) yield node.entry.publication;
    }
  }

  /** Why storing `bytes` on `channel` would go past a limit, once expired messages are gone. */
  private limitReached(channel: string, bytes: number): 'full' | 'over_bytes' | undefined {
    let outcome = this.overLimit(channel, bytes);
    if (outcome === undefined) return undefined;
    // Expired messages are gone (MQTT 5 §3.3.2.3.3): they must not hold the places.
    const now = Date.now();
    if (now < this.nextExpiry || now - this.lastExpiryScan < EXPIRY_SCAN_INTERVAL_MS) return outcome;
    this.dropExpired(now);
    outcome = this.overLimit(channel, bytes);
    return outcome;
  }

  private overLimit(channel: string, bytes: number): 'full' | 'over_bytes' | undefined {
    const old = this.nodes.get(channel)?.entry;
    if (old === undefined && this.counted >= this.limits.maxMessages) return 'full';
    const after = this.countedBytes - (old?.bytes ?? 0) + bytes;
    return after > this.limits.maxBytes && bytes > (old?.bytes ?? 0) ? 'over_bytes' : undefined;
  }

  private dropExpired(nowMs: number): void {
    this.lastExpiryScan = nowMs;
    let next = Number.POSITIVE_INFINITY;
    for (const [channel, node] of this.nodes) {
      const expiresAt = node.entry?.publication.expiresAt;
      if (expiresAt === undefined) continue;
      if (expiresAt <= nowMs) this.remove(channel);
      else if (expiresAt < next) next = expiresAt;
    }
    this.nextExpiry = next;
  }

  private remove(channel: string): void {
    const node = this.nodes.get(channel);
    if (node === undefined) return;
    this.nodes.delete(channel);
    if (!isServerChannel(channel)) {
      this.counted--;
      this.countedBytes -= (node.entry as { bytes: number }).bytes;
    }
    this.tree.clear(node);
  }
}
