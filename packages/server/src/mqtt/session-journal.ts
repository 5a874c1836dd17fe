import {
  type InflightRecord,
  type QueuedRecord,
  type SessionRecord,
  type Store,
  storedMessageOf,
} from '@pulse/core';
import type { Inflight, Outgoing, SubscriptionOptions } from './session-records.js';

/**
 * Writes one persistent session's changes to the store: the session only tells it what
 * changed, in the words of the session (subscriptions, queue, inflight window). The
 * session's own queue items and inflight entries are the records (they carry every field a
 * record has once `message` is set): no object is made per write.
 */
export class SessionJournal {
  constructor(
    private readonly store: Store,
    readonly clientId: string,
  ) {}

  saveSession(
    expiryInterval: number,
    subscriptions: Map<string, SubscriptionOptions>,
    expiresAt: number | undefined,
    user: string | undefined,
  ): void {
    const record: SessionRecord = { clientId: this.clientId, expiryInterval, subscriptions: [] };
    for (const [filter, o] of subscriptions) record.subscriptions.push({ filter, ...o });
    if (expiresAt !== undefined) record.expiresAt = expiresAt;
    if (user !== undefined) record.user = user;
    this.store.putSession(record);
  }

  deleteSession(): void {
    this.store.deleteSession(this.clientId);
  }

  /** `item.seq` is set. */
  queued(item: Outgoing): void {
    item.message ??= storedMessageOf(item.publication);
    this.store.putQueued(this.clientId, item as QueuedRecord);
  }

  dequeued(seq: number): void {
    this.store.deleteQueued(this.clientId, seq);
  }

  inflight(entry: Inflight): void {
    entry.message ??= storedMessageOf(entry.publication);
    this.store.putInflight(this.clientId, entry as InflightRecord);
  }

  completed(packetId: number): void {
    this.store.deleteInflight(this.clientId, packetId);
  }

  incomingQos2(packetId: number, pending: boolean): void {
    if (pending) this.store.putIncomingQos2(this.clientId, packetId);
    else this.store.deleteIncomingQos2(this.clientId, packetId);
  }
}
