import { filterMatches } from '@pulse/protocol';
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

export class MemoryRetainedStore implements RetainedStore {
  private readonly messages = new Map<string, Publication>();

  constructor(private readonly maxMessages: number) {}

  get size(): number {
    return this.messages.size;
  }

  set(publication: Publication): RetainOutcome {
    const { channel } = publication;
    if (publication.payload.length === 0) {
      this.messages.delete(channel);
      return 'cleared';
    }
    if (!this.messages.has(channel) && this.messages.size >= this.maxMessages) return 'full';
    this.messages.set(channel, publication);
    return 'stored';
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
      this.messages.delete(publication.channel);
      return;
    }
    out.push(publication);
  }
}
