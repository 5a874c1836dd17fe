import type { Publication, StoredMessage, StoredSubscription } from '@pulse/core';

/* What an MQTT session holds per subscription and per message, and its journal stores. */

/** A subscription's options (MQTT 5 §3.8.3.1), as stored with the session. */
export type SubscriptionOptions = Omit<StoredSubscription, 'filter'>;

/** One message on its way to this session's client. */
export interface Outgoing {
  publication: Publication;
  qos: 0 | 1 | 2;
  retain: boolean;
  subscriptionIds?: number[];
  /** Position in the stored queue, for a persistent session's queued message. */
  seq?: number;
  /** The publication as stored, once a persistent session has stored it. */
  message?: StoredMessage;
}

export interface Inflight extends Outgoing {
  packetId: number;
  /** Waiting for PUBACK/PUBREC ('publish') or for PUBCOMP after our PUBREL ('pubrel'). */
  state: 'publish' | 'pubrel';
  sentAt: number;
}
