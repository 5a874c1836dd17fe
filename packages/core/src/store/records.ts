/** A publication at rest: everything needed to deliver it again after a restart. */
export interface StoredMessage {
  channel: string;
  /**
   * Shared with the publication it was made from (storedMessageOf does not copy): engines that
   * keep it longer than the session entry holding that publication copy it.
   */
  payload: Uint8Array;
  event?: string;
  qos: 0 | 1 | 2;
  retain: boolean;
  /** MQTT 5 properties that travel with the message (values may be Uint8Array). */
  properties?: Record<string, unknown>;
  /** Date.now() after which the message must not be delivered. */
  expiresAt?: number;
}

export interface StoredSubscription {
  filter: string;
  qos: 0 | 1 | 2;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
  subscriptionId?: number;
}

/** A persistent MQTT session (one whose expiry interval is above 0). */
export interface SessionRecord {
  clientId: string;
  /** Seconds the session outlives its connection; 0xFFFFFFFF = never expires. */
  expiryInterval: number;
  subscriptions: StoredSubscription[];
  /** Date.now() when a detached session expires; undefined while connected or never expiring. */
  expiresAt?: number;
  /** The authenticated user the session belongs to (its client id is theirs while it lasts). */
  user?: string;
}

/** How an outgoing message reaches the client: the QoS and flags of its delivery. */
export interface StoredDelivery {
  message: StoredMessage;
  qos: 0 | 1 | 2;
  retain: boolean;
  subscriptionIds?: number[];
}

/** A QoS 1/2 message sent to a client and not yet acknowledged. */
export interface InflightRecord extends StoredDelivery {
  packetId: number;
  /** Waiting for PUBACK/PUBREC ('publish') or for PUBCOMP after PUBREL ('pubrel'). */
  state: 'publish' | 'pubrel';
}

/** A message waiting in a session's queue; `seq` orders the queue. */
export interface QueuedRecord extends StoredDelivery {
  seq: number;
}

/** A will waiting for its delay (MQTT 5 §3.1.3.2.2). */
export interface WillRecord {
  clientId: string;
  message: StoredMessage;
  /** Date.now() at which the will is published. */
  publishAt: number;
  /** Message expiry interval of the will in seconds, counted from its publication. */
  expirySeconds?: number;
}

/** One publication kept in a channel's history stream. */
export interface HistoryRecord {
  channel: string;
  offset: number;
  /** Date.now() when it was published. */
  time: number;
  /** Date.now() after which the entry leaves history (its pattern's `ttl_ms`). */
  expiresAt?: number;
  message: StoredMessage;
}

/** A history stream's position: its epoch and the offset of its newest publication. */
export interface StreamRecord {
  channel: string;
  epoch: string;
  offset: number;
  /**
   * Date.now() of the stream's last publication (or of its creation): at start-up the most
   * recently used streams are the ones kept when there are more than the limit.
   */
  updatedAt?: number;
}

/** One session with its QoS state, as loaded at start-up. */
export interface LoadedSession {
  session: SessionRecord;
  inflight: InflightRecord[];
  /** In queue order. */
  queue: QueuedRecord[];
  incomingQos2: number[];
}

/** Everything a store holds, as read once at start-up. */
export interface StoredState {
  sessions: LoadedSession[];
  retained: StoredMessage[];
  wills: WillRecord[];
  streams: StreamRecord[];
  /** Per channel, in offset order. */
  history: HistoryRecord[];
}
