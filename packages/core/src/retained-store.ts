import { filterMatches } from '@pulse/protocol';
import { isServerChannel } from './channel.js';
import type { Publication } from './outbound.js';

export type RetainOutcome = 'stored' | 'cleared' | 'full';

/** Retained messages, one per channel (MQTT 5 §3.3.1.3). Implementations: memory now, durable later. */
export interface RetainedStore {
  /** Stores `publication` as its channel's retained message; an empty payload clears it. */
  set(publication: Publication): RetainOutcome;
  /** Unexpired retained messages whose channel matches `filter`. */
  match(filter: string, nowMs: number): Publication[];
  readonly size: number;
}

/**
 * `maxMessages` bounds what clients can retain; the server's own `$SYS` topics are stored
 * outside it, so that they never take a client's place.
 */
export class MemoryRetainedStore implements RetainedStore {
  private readonly messages = new Map<string, Publication>();
  /** Stored messages that count towards `maxMessages`. */
  private counted = 0;

  constructor(private readonly maxMessages: number) {}

  get size(): number {
    return this.messages.size;
  }

  set(publication: Publication): RetainOutcome {
    const { channel } = publication;
    if (publication.payload.length === 0) {
      this.remove(channel);
      return 'cleared';
    }
    if (!this.messages.has(channel)) {
      const counts = !isServerChannel(channel);
      // Expired messages are gone (MQTT 5 §3.3.2.3.3): they must not hold the places.
      if (counts && this.counted >= this.maxMessages) this.dropExpired(Date.now());
      if (counts && this.counted >= this.maxMessages) return 'full';
      if (counts) this.counted++;
    }
    this.messages.set(channel, publication);
    return 'stored';
  }

  private dropExpired(nowMs: number): void {
    for (const [channel, p] of this.messages) {
      if (p.expiresAt !== undefined && p.expiresAt <= nowMs) this.remove(channel);
    }
  }

  private remove(channel: string): void {
    if (this.messages.delete(channel) && !isServerChannel(channel)) this.counted--;
  }

  match(filter: string, nowMs: number): Publication[] {
    const out: Publication[] = [];
    const exact = filter.indexOf('+') === -1 && filter.indexOf('#') === -1;
    if (exact) {
      const one = this.messages.get(filter);
      if (one) this.keepIfLive(one, nowMs, out);
      return out;
    }
    for (const publication of this.messages.values()) {
      if (filterMatches(filter, publication.channel)) this.keepIfLive(publication, nowMs, out);
    }
    return out;
  }

  private keepIfLive(publication: Publication, nowMs: number, out: Publication[]): void {
    if (publication.expiresAt !== undefined && publication.expiresAt <= nowMs) {
      this.remove(publication.channel);
      return;
    }
    out.push(publication);
  }
}
