import {
  type InflightRecord,
  type Publication,
  type SessionRecord,
  type Store,
  type StoredDelivery,
  storedMessageOf,
} from '@pulse/core';
import type { Inflight, Outgoing, SubscriptionOptions } from './session.js';

function deliveryOf(item: Outgoing): StoredDelivery {
  const delivery: StoredDelivery = {
    message: storedMessageOf(item.publication as Publication),
    qos: item.qos,
    retain: item.retain,
  };
  if (item.subscriptionIds !== undefined) delivery.subscriptionIds = item.subscriptionIds;
  return delivery;
}

/**
 * Writes one persistent session's changes to the store: the session only tells it what
 * changed, in the words of the session (subscriptions, queue, inflight window).
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
  ): void {
    const record: SessionRecord = { clientId: this.clientId, expiryInterval, subscriptions: [] };
    for (const [filter, o] of subscriptions) record.subscriptions.push({ filter, ...o });
    if (expiresAt !== undefined) record.expiresAt = expiresAt;
    this.store.putSession(record);
  }

  deleteSession(): void {
    this.store.deleteSession(this.clientId);
  }

  queued(item: Outgoing, seq: number): void {
    this.store.putQueued(this.clientId, { ...deliveryOf(item), seq });
  }

  dequeued(seq: number): void {
    this.store.deleteQueued(this.clientId, seq);
  }

  inflight(entry: Inflight): void {
    const record: InflightRecord = { ...deliveryOf(entry), packetId: entry.packetId, state: entry.state };
    this.store.putInflight(this.clientId, record);
  }

  completed(packetId: number): void {
    this.store.deleteInflight(this.clientId, packetId);
  }

  incomingQos2(packetId: number, pending: boolean): void {
    if (pending) this.store.putIncomingQos2(this.clientId, packetId);
    else this.store.deleteIncomingQos2(this.clientId, packetId);
  }
}
