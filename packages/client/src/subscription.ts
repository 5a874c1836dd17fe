import type { PresenceEvent, Publication, PulseClient, StreamPosition } from './client.js';
import { Emitter } from './emitter.js';
import { PulseClientError, PulseError } from './errors.js';

export type SubscriptionState = 'unsubscribed' | 'subscribing' | 'subscribed';

export interface SubscriptionOptions {
  /**
   * Resubscribe with `recover` from the last position seen when the channel keeps history
   * (default true). False: every resubscribe starts from live publications.
   */
  recover?: boolean;
  /** Recover from this position on the first subscribe too (e.g. a position the application stored). */
  since?: StreamPosition;
}

export interface SubscribedContext {
  /** True when every publication missed since the last position was (or is about to be) delivered. */
  recovered: boolean;
  /** True when the subscribe asked to recover (a resubscribe, or the first with `since`). */
  wasRecovering: boolean;
  /** The channel's position after the subscribe, when it keeps history. */
  position?: StreamPosition;
}

export interface UnsubscribedContext {
  /** `client`: `unsubscribe()` was called; `refused`: the server refused the subscribe (see `error`). */
  reason: 'client' | 'refused';
  error?: PulseError;
}

export interface SubscriptionEvents {
  state: { state: SubscriptionState; previous: SubscriptionState };
  subscribing: Record<string, never>;
  subscribed: SubscribedContext;
  unsubscribed: UnsubscribedContext;
  publication: Publication;
  presence: PresenceEvent;
  error: PulseError;
}

/** What a subscription needs of the reconnecting client that owns it. */
export interface SubscriptionHost {
  /** The live connection, when there is one. */
  connection(): PulseClient | undefined;
  /** A request on `client` went unanswered: the owner replaces the connection. */
  requestTimedOut(client: PulseClient, err: PulseError): void;
}

/**
 * One channel (or filter) the application wants, kept across reconnects: subscribed again on
 * every new connection, with `recover` from the last offset/epoch seen when the channel keeps
 * history. Publications reach `publication` handlers in offset order, exactly once within an
 * epoch: the ones recovered after a reconnect come first (after the `subscribed` event), live
 * ones after them, and any offset already delivered is dropped.
 */
export class Subscription {
  state: SubscriptionState = 'unsubscribed';
  private readonly events = new Emitter<SubscriptionEvents>();
  /** True between `subscribe()` and `unsubscribe()` (or a refusal). */
  private wanted = false;
  /** Counts subscribe requests: the answer to one that was superseded is ignored. */
  private attempt = 0;
  /** Set while a subscribe awaits its ack: what arrives meanwhile is delivered after `subscribed`. */
  private held: Publication[] | undefined;
  private position: StreamPosition | undefined;
  /** The connection the last subscribe went out on. */
  private sentOn: PulseClient | undefined;
  private readonly recoverable: boolean;
  /** Set by `removeSubscription()`: the owner no longer restores it, so it cannot subscribe. */
  private removed = false;

  constructor(
    readonly channel: string,
    private readonly host: SubscriptionHost,
    options: SubscriptionOptions = {},
  ) {
    this.recoverable = options.recover ?? true;
    this.position = options.since;
  }

  on<K extends keyof SubscriptionEvents>(
    event: K,
    handler: (value: SubscriptionEvents[K]) => void,
  ): () => void {
    return this.events.on(event, handler);
  }

  /** The position of the newest publication delivered (or of the last subscribe ack). */
  lastPosition(): StreamPosition | undefined {
    return this.position;
  }

  /**
   * Starts (or keeps) wanting the channel: subscribes now when connected, else on connect.
   * Throws (`removed`) once the subscription was removed from its client.
   */
  subscribe(): void {
    if (this.removed) throw this.removedError();
    if (this.wanted) return;
    this.wanted = true;
    this.setState('subscribing');
    this.events.emit('subscribing', {});
    const client = this.host.connection();
    if (client) this.sendOn(client);
  }

  /** Stops wanting the channel (and tells the server, when connected). */
  unsubscribe(): void {
    if (!this.wanted) return;
    this.wanted = false;
    this.attempt++;
    this.held = undefined;
    const client = this.host.connection();
    if (client && client === this.sentOn) client.unsubscribe(this.channel).catch(() => {});
    this.sentOn = undefined;
    this.setState('unsubscribed');
    this.events.emit('unsubscribed', { reason: 'client' });
  }

  /** Resolves once subscribed; rejects when the subscription ends unsubscribed first. */
  ready(): Promise<void> {
    if (this.state === 'subscribed') return Promise.resolve();
    if (this.removed) return Promise.reject(this.removedError());
    if (!this.wanted)
      return Promise.reject(new PulseClientError('closed', `not subscribing to ${this.channel}`));
    return new Promise((resolve, reject) => {
      const offs = [
        this.on('subscribed', () => {
          for (const off of offs) off();
          resolve();
        }),
        this.on('unsubscribed', (ctx) => {
          for (const off of offs) off();
          reject(ctx.error ?? new PulseClientError('closed', `unsubscribed from ${this.channel}`));
        }),
      ];
    });
  }

  // --- called by the owner ---------------------------------------------------------------

  /**
   * The owner forgot it (`removeSubscription`): it would not be subscribed again after a
   * reconnect, and the channel may get a new subscription, so it refuses to subscribe.
   */
  remove(): void {
    this.unsubscribe();
    this.removed = true;
  }

  /** A new connection is up. */
  connected(client: PulseClient): void {
    if (this.wanted) this.sendOn(client);
  }

  /** The connection is gone: a subscribed channel goes back to subscribing until the next one. */
  disconnected(): void {
    this.attempt++;
    this.held = undefined;
    this.sentOn = undefined;
    if (this.wanted && this.state === 'subscribed') {
      this.setState('subscribing');
      this.events.emit('subscribing', {});
    }
  }

  presence(event: PresenceEvent): void {
    if (this.wanted) this.events.emit('presence', event);
  }

  // --- internals --------------------------------------------------------------------------

  private sendOn(client: PulseClient): void {
    const attempt = ++this.attempt;
    const from = this.recoverable ? this.position : undefined;
    this.held = [];
    this.sentOn = client;
    client.subscribe(this.channel, this.receive, from ? { recover: from } : {}).then(
      (ack) => {
        if (attempt !== this.attempt) return;
        const recovered = from !== undefined && ack.recovered === true;
        // Recovered: the publications after our position follow the ack, which carries the top;
        // keeping our position lets them through. Otherwise start from the top.
        if (!recovered && ack.offset !== undefined && ack.epoch !== undefined) {
          this.position = { offset: ack.offset, epoch: ack.epoch };
        }
        const held = this.held ?? [];
        this.held = undefined;
        this.setState('subscribed');
        this.events.emit('subscribed', {
          recovered,
          wasRecovering: from !== undefined,
          ...(ack.offset !== undefined && ack.epoch !== undefined
            ? { position: { offset: ack.offset, epoch: ack.epoch } }
            : {}),
        });
        for (const p of held) this.deliver(p);
      },
      (err: unknown) => {
        if (attempt !== this.attempt) return;
        this.held = undefined;
        if (err instanceof PulseClientError) {
          // The connection dropped (the next one subscribes again) or the ack never came.
          if (err.kind === 'timeout') this.host.requestTimedOut(client, err);
          return;
        }
        const error = err instanceof PulseError ? err : new PulseError(1011, String(err));
        this.wanted = false;
        this.sentOn = undefined;
        this.setState('unsubscribed');
        this.events.emit('error', error);
        this.events.emit('unsubscribed', { reason: 'refused', error });
      },
    );
  }

  private readonly receive = (p: Publication): void => {
    if (!this.wanted) return;
    if (this.held) this.held.push(p);
    else this.deliver(p);
  };

  private deliver(p: Publication): void {
    // Offsets are per channel: a wildcard's publications each carry their own channel's.
    if (p.channel === this.channel && p.offset !== undefined && p.epoch !== undefined) {
      const known = this.position;
      if (known && known.epoch === p.epoch && p.offset <= known.offset) return;
      this.position = { offset: p.offset, epoch: p.epoch };
    }
    this.events.emit('publication', p);
  }

  private removedError(): PulseClientError {
    return new PulseClientError(
      'removed',
      `the subscription to ${this.channel} was removed: make a new one with newSubscription()`,
    );
  }

  private setState(state: SubscriptionState): void {
    const previous = this.state;
    if (previous === state) return;
    this.state = state;
    this.events.emit('state', { state, previous });
  }
}
