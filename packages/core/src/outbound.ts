import type { PresenceAction } from '@pulse/protocol';
import type { StoredMessage } from './store/records.js';

// Read once: the global `performance` is a getter, called on every access.
const clock = performance;

/**
 * Something the router fans out. Each wire format encodes it once and keeps the bytes in
 * `encodings[slot]`, so a delivery to 10,000 subscribers writes the same buffer 10,000 times.
 * The core does not know the wire formats: the server allocates every slot in one file
 * (packages/server/src/encoding-slots.ts); the array grows to the slots used.
 */
export interface Outbound {
  readonly encodings: (Buffer | undefined)[];
  readonly kind: 'publication' | 'presence';
  readonly channel: string;
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

// One per message: no base class and no field initializers (`declare`, every field set once in
// the constructor), so constructing it is one plain function, without the derived-constructor
// lookup and the initializer call that the profile of a message travelling alone showed.
export class Publication implements Outbound {
  declare readonly encodings: (Buffer | undefined)[];
  declare readonly kind: 'publication';
  declare readonly channel: string;
  declare readonly payload: Uint8Array;
  declare readonly event: string | undefined;
  declare readonly qos: 0 | 1 | 2;
  declare readonly retain: boolean;
  declare readonly properties: Record<string, unknown> | undefined;
  declare readonly publisher: string | undefined;
  declare readonly expiresAt: number | undefined;
  /** History position, when the channel keeps history. */
  declare offset: number | undefined;
  declare epoch: string | undefined;
  /** The publication as stored, once a store has kept it (see storedMessageOf). */
  declare stored: StoredMessage | undefined;
  /** performance.now() when the publication entered the server. */
  declare readonly receivedAt: number;

  constructor(init: PublicationInit) {
    this.encodings = [];
    this.kind = 'publication';
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
    this.receivedAt = clock.now();
  }
}

export class PresenceEvent implements Outbound {
  readonly encodings: (Buffer | undefined)[] = [];
  readonly kind = 'presence' as const;
  constructor(
    readonly channel: string,
    readonly action: PresenceAction,
    readonly connectionId: string,
    readonly user: string | undefined,
    readonly data: Record<string, unknown> | undefined,
  ) {}
}

export type Message = Publication | PresenceEvent;
