import type { PresenceAction } from '@pulse/protocol';
import type { StoredMessage } from './store/records.js';

/**
 * Something the router fans out. Each wire format encodes it once and keeps the bytes in
 * `encodings[slot]`, so a delivery to 10,000 subscribers writes the same buffer 10,000 times.
 * The core does not know the wire formats: the server allocates every slot in one file
 * (packages/server/src/encoding-slots.ts); the array grows to the slots used.
 */
export abstract class Outbound {
  readonly encodings: (Buffer | undefined)[] = [];
  abstract readonly kind: 'publication' | 'presence';
  abstract readonly channel: string;
}

export interface PublicationInit {
  channel: string;
  payload: Uint8Array;
  event?: string;
  qos?: 0 | 1 | 2;
  retain?: boolean;
  properties?: Record<string, unknown>;
  /** Connection id of the publisher, if a connection published it. */
  publisher?: string;
  /** Date.now() after which the message must not be delivered (MQTT 5 message expiry). */
  expiresAt?: number;
}

export class Publication extends Outbound {
  readonly kind = 'publication' as const;
  readonly channel: string;
  readonly payload: Uint8Array;
  readonly event: string | undefined;
  readonly qos: 0 | 1 | 2;
  readonly retain: boolean;
  readonly properties: Record<string, unknown> | undefined;
  readonly publisher: string | undefined;
  readonly expiresAt: number | undefined;
  /** History position, when the channel keeps history. */
  offset: number | undefined;
  epoch: string | undefined;
  /** The publication as stored, once a store has kept it (see storedMessageOf). */
  stored: StoredMessage | undefined;
  /** performance.now() when the publication entered the server. */
  readonly receivedAt: number;

  constructor(init: PublicationInit) {
    super();
    this.channel = init.channel;
    this.payload = init.payload;
    this.event = init.event;
    this.qos = init.qos ?? 0;
    this.retain = init.retain ?? false;
    this.properties = init.properties;
    this.publisher = init.publisher;
    this.expiresAt = init.expiresAt;
    this.offset = undefined;
    this.epoch = undefined;
    this.stored = undefined;
    this.receivedAt = performance.now();
  }
}

export class PresenceEvent extends Outbound {
  readonly kind = 'presence' as const;
  constructor(
    readonly channel: string,
    readonly action: PresenceAction,
    readonly connectionId: string,
    readonly user: string | undefined,
    readonly data: Record<string, unknown> | undefined,
  ) {
    super();
  }
}

export type Message = Publication | PresenceEvent;
