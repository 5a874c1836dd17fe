import type { Message } from './outbound.js';

/** The core's view of a connection: something with an id that messages can be delivered to. */
export interface Subscriber {
  readonly id: string;
  /** Authenticated user, when there is one. */
  readonly user?: string;
  /**
   * Channel filters this subscriber holds. Owned by the broker; undefined until the first
   * subscribe. An array, not a Set: most connections hold a few filters, and an idle
   * connection's memory is what bounds how many a server can keep.
   */
  filters?: string[];
  /** Channels this subscriber has joined presence on. Owned by the broker. */
  presenceChannels?: Set<string>;
  /**
   * Hands a message over. `sharedFilter` is set (`$share/group/filter`) when the message came
   * through a shared subscription, which picks one member of the group per message.
   */
  deliver(message: Message, sharedFilter?: string): void;
  /** False while a persistent session has no connection; shared groups prefer connected members. */
  readonly connected?: boolean;
  /**
   * True for a subscriber that takes one copy of a message per shared subscription it is
   * picked for, besides the one through its own filters (MQTT 5 §4.8.2). Otherwise (native,
   * JSON) a message reaches it once, however many of its groups match.
   */
  readonly copyPerSharedSubscription?: boolean;
  /** Owned by the broker: the fan-out that last reached this subscriber (see Broker.fanOutWithGroups). */
  deliveryRound?: number;
}
