import type { Message } from './outbound.js';

/** The core's view of a connection: something with an id that messages can be delivered to. */
export interface Subscriber {
  readonly id: string;
  /** Authenticated user, when there is one. */
  readonly user?: string;
  /** Channel filters this subscriber holds. Owned by the broker; undefined until the first subscribe. */
  filters?: Set<string>;
  /** Channels this subscriber has joined presence on. Owned by the broker. */
  presenceChannels?: Set<string>;
  deliver(message: Message): void;
}
