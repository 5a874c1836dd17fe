import { reconnectDelay } from './backoff.js';
import {
  type HistoryOptions,
  type HistoryResult,
  type PresenceEvent,
  PulseClient,
  type StreamPosition,
} from './client.js';
import { type DisconnectInfo, TERMINAL_REASONS, classify } from './disconnect-reason.js';
import { Emitter } from './emitter.js';
import { PulseClientError, PulseError } from './errors.js';
import { subscriptionMatches } from './filter-match.js';
import { HeartbeatWatch } from './heartbeat-watch.js';
import { monotonicNow } from './monotonic.js';
import { type NetworkEvents, globalNetworkEvents, watchNetwork } from './network-events.js';
import { OfflineQueue, type QueuedPublish } from './offline-queue.js';
import { PresenceKeeper } from './presence-keeper.js';
import type { Publication } from './client.js';
import { Subscription, type SubscriptionHost, type SubscriptionOptions } from './subscription.js';
import { TokenRefresher } from './token-expiry.js';
import type { WebSocketConstructor } from './transport.js';
import {
  type TransportFactory,
  type WebSocketProtocol,
  jsonWebSocketTransport,
  webSocketTransport,
} from './transports.js';
import { within } from './within.js';

export type ConnectionState = 'connecting' | 'connected' | 'disconnected' | 'closed';

export interface PulseOptions {
  /** WebSocket implementation for the default transport; defaults to the global one (browsers, Node 22+). */
  WebSocket?: WebSocketConstructor;
  /** The default transport's protocol: `native` (default) or `json` (ignored with `transports`). */
  protocol?: WebSocketProtocol;
  /** Transports tried in order on every attempt; default a WebSocket of `protocol` with `options.WebSocket`. */
  transports?: TransportFactory[];
  /** A fixed token (sent in `connect`). */
  token?: string;
  /** Fetches a token for every connect and reconnect, and before the current one expires. */
  getToken?: () => Promise<string>;
  /** Default 500. */
  minReconnectDelayMs?: number;
  /** Default 20,000. */
  maxReconnectDelayMs?: number;
  /** Failed attempts in a row before giving up (state `closed`, reason `max_attempts`). Default Infinity. */
  maxReconnectAttempts?: number;
  /** Full jitter on the reconnect delay (default true; false only to measure what it prevents). */
  jitter?: boolean;
  /** How long one attempt may take per transport, open and `connected` together; also a `getToken` call. Default 10,000. */
  connectTimeoutMs?: number;
  /** How long a request waits for its ack, and a request made while disconnected for a connection. Default 10,000. */
  requestTimeoutMs?: number;
  /** How much later than the server's heartbeat its traffic may come before the client pings. Default 5,000. */
  heartbeatGraceMs?: number;
  /** How long the client's own ping may go unanswered before the connection counts as dead. Default 5,000. */
  pingTimeoutMs?: number;
  /** Refresh the token this long before its `exp` (half the time left for shorter tokens). Default 10,000. */
  tokenRefreshMarginMs?: number;
  /** Publishing while disconnected: `queue` (default) up to `maxOfflineQueue`, or `fail` at once. */
  offline?: 'queue' | 'fail';
  /** Default 100. */
  maxOfflineQueue?: number;
  /** Where `online`/`offline` events come from; default `globalThis` when it has `addEventListener` (browsers); null: none. */
  networkEvents?: NetworkEvents | null;
}

export interface PulseEvents {
  state: { state: ConnectionState; previous: ConnectionState };
  /** An attempt starts (`attempt` 1 is the first since the last connection). */
  connecting: { attempt: number };
  /** `transport`: the index of the factory that opened. */
  connected: { connectionId: string; heartbeatMs: number; transport: number };
  /** Lost or failed; `reconnectInMs` is the wait before the next attempt (undefined: waiting for `online`). */
  disconnected: DisconnectInfo & { reconnectInMs: number | undefined };
  /** Stopped for good: `close()`, a terminal refusal, or `maxReconnectAttempts`. */
  closed: DisconnectInfo;
  /** Something worth knowing that did not stop the client (a server error without a request, a failed getToken, ...). */
  error: Error;
  presence: PresenceEvent;
}

/** One live connection and what hangs on it. */
interface Live {
  client: PulseClient;
  watch: HeartbeatWatch;
  refresher: TokenRefresher | undefined;
  /** The server's last error without a request id (it says why the close that follows happened). */
  lastError?: PulseError;
  /** Set when the client gave the connection up itself. */
  dropInfo?: DisconnectInfo;
}

/**
 * A Pulse client that survives the network (packages/client/README.md): it reconnects with
 * backoff and jitter, subscribes again with recovery, joins presence again, refreshes its token
 * and holds publishes while offline. Each connection is a `PulseClient`.
 */
export class Pulse {
  state: ConnectionState = 'disconnected';
  private readonly events = new Emitter<PulseEvents>();
  private readonly factories: TransportFactory[];
  private readonly queue: OfflineQueue;
  private readonly subs = new Map<string, Subscription>();
  private readonly presenceKeeper: PresenceKeeper;
  private readonly host: SubscriptionHost;
  private live: Live | undefined;
  /** Counts connect()/close() and attempts: an attempt that was superseded drops what it opened. */
  private run = 0;
  /** Failed attempts since the last connection. */
  private failures = 0;
  /** `token expired` refusals in a row: the second is terminal. */
  private expiredRefusals = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  /** Aborted by `stop()`: what an attempt is waiting for (getToken, a transport opening) is given up. */
  private stopping = new AbortController();
  private waitingForOnline = false;
  private unwatchNetwork: (() => void) | undefined;
  private readonly o: Required<
    Omit<PulseOptions, 'WebSocket' | 'protocol' | 'transports' | 'token' | 'getToken' | 'networkEvents'>
  >;

  constructor(
    readonly url: string,
    private readonly options: PulseOptions = {},
  ) {
    this.o = {
      minReconnectDelayMs: options.minReconnectDelayMs ?? 500,
      maxReconnectDelayMs: options.maxReconnectDelayMs ?? 20_000,
      maxReconnectAttempts: options.maxReconnectAttempts ?? Number.POSITIVE_INFINITY,
      jitter: options.jitter ?? true,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
      heartbeatGraceMs: options.heartbeatGraceMs ?? 5_000,
      pingTimeoutMs: options.pingTimeoutMs ?? 5_000,
      tokenRefreshMarginMs: options.tokenRefreshMarginMs ?? 10_000,
      offline: options.offline ?? 'queue',
      maxOfflineQueue: options.maxOfflineQueue ?? 100,
    };
    const byDefault = options.protocol === 'json' ? jsonWebSocketTransport : webSocketTransport;
    this.factories = options.transports ?? [byDefault(options.WebSocket)];
    this.queue = new OfflineQueue(this.o.maxOfflineQueue);
    this.presenceKeeper = new PresenceKeeper(
      () => this.current(),
      (err) => this.events.emit('error', err),
    );
    this.host = {
      connection: () => this.current(),
      requestTimedOut: (client, err) => {
        if (this.live?.client === client)
          this.drop(this.live, { reason: 'request_timeout', message: err.message, error: err });
      },
    };
  }

  on<K extends keyof PulseEvents>(event: K, handler: (value: PulseEvents[K]) => void): () => void {
    return this.events.on(event, handler);
  }

  /** The live connection's id ('' when not connected). */
  get connectionId(): string {
    return this.live?.client.connectionId ?? '';
  }

  /** Starts connecting (and reconnecting); also after `close()` or a terminal stop. */
  connect(): void {
    if (this.state === 'connecting' || this.state === 'connected') return;
    clearTimeout(this.reconnectTimer);
    this.failures = 0;
    this.expiredRefusals = 0;
    this.waitingForOnline = false;
    const source =
      this.options.networkEvents === null ? undefined : (this.options.networkEvents ?? globalNetworkEvents());
    this.unwatchNetwork ??= watchNetwork(
      source,
      () => this.online(),
      () => this.offline(),
    );
    void this.attempt();
  }

  /**
   * Stops for good (state `closed`, reason `closed`): no reconnect; queued publishes fail with
   * `closed`. Subscriptions and presence are kept for a later `connect()`. Resolves when the
   * connection has closed (or after a second, for one the network no longer carries).
   */
  async close(): Promise<void> {
    const client = this.live?.client;
    this.stop({ reason: 'closed', message: 'close() was called' });
    if (client) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const gaveUp = new Promise((r) => {
        timer = setTimeout(r, 1000);
      });
      await Promise.race([client.closed, gaveUp]);
      // Not left running: it would keep a Node process alive a second after close().
      clearTimeout(timer);
      client.drop(1000, 'closed');
    }
  }

  // --- subscriptions and presence ----------------------------------------------------------

  /** A subscription to `channel` (a channel or filter), not yet subscribed: add handlers, then `subscribe()`. */
  newSubscription(channel: string, options: SubscriptionOptions = {}): Subscription {
    if (this.subs.has(channel)) throw new Error(`a subscription to ${channel} exists already`);
    const sub = new Subscription(channel, this.host, options);
    this.subs.set(channel, sub);
    return sub;
  }

  /** Subscribes to `channel` (creating its subscription if needed) with `handler` for its publications. */
  subscribe(
    channel: string,
    handler: (p: Publication) => void,
    options: SubscriptionOptions = {},
  ): Subscription {
    const sub = this.subs.get(channel) ?? this.newSubscription(channel, options);
    sub.on('publication', handler);
    sub.subscribe();
    return sub;
  }

  getSubscription(channel: string): Subscription | undefined {
    return this.subs.get(channel);
  }

  /** Unsubscribes and forgets the subscription; it cannot subscribe again (`removed`): make a new one. */
  removeSubscription(sub: Subscription): void {
    if (this.subs.get(sub.channel) !== sub) return;
    sub.remove();
    this.subs.delete(sub.channel);
  }

  /** Joins, updates and leaves are kept and applied again on every new connection. */
  readonly presence = {
    join: (channel: string, data?: Record<string, unknown>) => this.presenceKeeper.join(channel, data),
    update: (channel: string, data?: Record<string, unknown>) => this.presenceKeeper.update(channel, data),
    leave: (channel: string) => this.presenceKeeper.leave(channel),
    /** Waits for a connection (up to `requestTimeoutMs`) when disconnected. */
    sync: async (channel: string) => (await this.connection()).presence.sync(channel),
  };

  /** Waits for a connection (up to `requestTimeoutMs`) when disconnected. */
  async history(channel: string, options: HistoryOptions = {}): Promise<HistoryResult> {
    return (await this.connection()).history(channel, options);
  }

  /** The newest position seen on `channel` through its subscription. */
  lastPosition(channel: string): StreamPosition | undefined {
    return this.subs.get(channel)?.lastPosition();
  }

  // --- publishing ----------------------------------------------------------------------------

  /**
   * Publishes; with `ack` (the default) resolves when the server has routed it. Disconnected,
   * it is queued (`offline: 'queue'`, sent in order after the reconnect) or refused at once
   * (`fail`); see PulseClientError for the kinds.
   */
  publish(
    channel: string,
    payload: Uint8Array | string,
    opts: { event?: string; ack?: boolean } = {},
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      const entry: QueuedPublish = {
        channel,
        payload,
        event: opts.event,
        ack: opts.ack ?? true,
        resolve,
        reject,
      };
      const client = this.current();
      if (client) return this.send(client, entry);
      if (this.state === 'closed') return reject(new PulseClientError('closed', 'the client is closed'));
      if (this.o.offline === 'fail') return reject(new PulseClientError('offline', 'not connected'));
      this.queue.add(entry);
    });
  }

  private send(client: PulseClient, entry: QueuedPublish): void {
    client
      .publish(entry.channel, entry.payload, { event: entry.event, ack: entry.ack })
      .then(entry.resolve, entry.reject);
  }

  // --- connecting ----------------------------------------------------------------------------

  private async attempt(): Promise<void> {
    const run = ++this.run;
    const stop = this.stopping.signal;
    this.setState('connecting');
    this.events.emit('connecting', { attempt: this.failures + 1 });
    let token: string | undefined;
    const getToken = this.options.getToken;
    const ms = this.o.connectTimeoutMs;
    try {
      // Bounded: a getToken that never answers would leave the client connecting for good.
      token = getToken
        ? await within(() => getToken(), ms, `getToken did not answer within ${ms} ms`, stop)
        : this.options.token;
    } catch (err) {
      if (run !== this.run) return;
      this.events.emit('error', err as Error);
      this.failed(
        { reason: 'token_unavailable', message: `getToken failed: ${(err as Error).message}` },
        true,
      );
      return;
    }
    if (run !== this.run) return;
    let opened: { client: PulseClient; index: number };
    try {
      opened = await this.open(token, stop);
    } catch (err) {
      if (run !== this.run) return;
      this.failed(classify(err), true);
      return;
    }
    if (run !== this.run) {
      opened.client.drop(1000, 'superseded');
      return;
    }
    this.adopt(opened.client, opened.index, token);
  }

  /** Tries each transport in turn; a refusal by the server (it answered) is not worth another transport. */
  private async open(
    token: string | undefined,
    stop: AbortSignal,
  ): Promise<{ client: PulseClient; index: number }> {
    let last: unknown = new Error('no transports');
    const ms = this.o.connectTimeoutMs;
    for (const [index, factory] of this.factories.entries()) {
      // One deadline for the opening and `connected` together, as documented.
      const deadline = monotonicNow() + ms;
      try {
        // Given up (too late, or close()): the factory is told to let go of what it was
        // opening, and a transport that opens anyway is closed.
        const transport = await within(
          (signal) => factory(this.url, signal),
          ms,
          `cannot open ${this.url} within ${ms} ms`,
          stop,
          (late) => late.close(),
        );
        const client = await PulseClient.over(transport, {
          token,
          requestTimeoutMs: this.o.requestTimeoutMs,
          connectTimeoutMs: Math.max(1, Math.ceil(deadline - monotonicNow())),
        });
        return { client, index };
      } catch (err) {
        if (err instanceof PulseError && !(err instanceof PulseClientError)) throw err;
        last = err;
      }
    }
    throw last;
  }

  private adopt(client: PulseClient, index: number, token: string | undefined): void {
    this.failures = 0;
    this.expiredRefusals = 0;
    this.waitingForOnline = false;
    const watch = new HeartbeatWatch(
      {
        get lastReceivedAt() {
          return client.lastReceivedAt;
        },
        sendPing: () => client.send({ type: 'ping' }),
      },
      {
        heartbeatMs: client.heartbeatMs,
        graceMs: this.o.heartbeatGraceMs,
        pingTimeoutMs: this.o.pingTimeoutMs,
      },
      (silent) =>
        this.drop(live, { reason: 'heartbeat_timeout', message: `nothing received for ${silent} ms` }),
    );
    const getToken = this.options.getToken;
    const live: Live = { client, watch, refresher: undefined };
    if (getToken && token !== undefined) {
      live.refresher = new TokenRefresher(
        getToken,
        this.o.tokenRefreshMarginMs,
        this.o.connectTimeoutMs,
        (next) => this.refresh(live, next),
        (err) => this.events.emit('error', err as Error),
      );
      live.refresher.schedule(token);
    }
    this.live = live;
    client.onError((err) => {
      live.lastError = err;
      this.events.emit('error', err);
    });
    client.onPresence((event) => {
      this.events.emit('presence', event);
      for (const sub of this.subs.values())
        if (subscriptionMatches(sub.channel, event.channel)) sub.presence(event);
    });
    void client.closed.then((info) => this.lost(live, info));
    watch.start();
    // Everything owed goes out before anyone hears of the connection, so that nothing published
    // from a `connected` handler overtakes the offline queue.
    for (const sub of this.subs.values()) sub.connected(client);
    this.presenceKeeper.restore(client);
    this.queue.drain((entry) => this.send(client, entry));
    this.setState('connected');
    this.events.emit('connected', {
      connectionId: client.connectionId,
      heartbeatMs: client.heartbeatMs,
      transport: index,
    });
  }

  /** Sends a refreshed token on the live connection; a refusal is read when the server closes it. */
  private async refresh(live: Live, token: string): Promise<void> {
    if (this.live !== live) throw new Error('connection gone');
    try {
      await live.client.refreshToken(token);
    } catch (err) {
      if (err instanceof PulseClientError) {
        if (err.kind === 'timeout')
          this.drop(live, { reason: 'request_timeout', message: err.message, error: err });
      } else if (err instanceof PulseError) live.lastError = err;
      throw err;
    }
  }

  /** Gives up the live connection (the client's own decision); `lost` follows. */
  private drop(live: Live, info: DisconnectInfo): void {
    live.dropInfo ??= info;
    live.client.drop(4000, info.message);
  }

  private lost(live: Live, closed: { code: number; reason: string }): void {
    if (this.live !== live) return;
    this.live = undefined;
    live.watch.stop();
    live.refresher?.stop();
    for (const sub of this.subs.values()) sub.disconnected();
    const info = live.dropInfo ??
      (live.lastError ? classify(live.lastError) : undefined) ?? {
        reason: 'transport' as const,
        message: `connection closed (${closed.code}${closed.reason ? ` ${closed.reason}` : ''})`,
      };
    this.failed(info, false);
  }

  /** After a lost connection or a failed attempt: stop, or wait and try again. */
  private failed(info: DisconnectInfo, wasAttempt: boolean): void {
    if (this.state === 'closed') return;
    if (info.reason === 'token_expired') {
      this.expiredRefusals++;
      if (!this.options.getToken || this.expiredRefusals >= 2) {
        const why = this.options.getToken
          ? 'a refreshed token was refused as expired too'
          : 'no getToken to refresh it';
        return this.stop({ ...info, reason: 'unauthorized', message: `token expired: ${why}` });
      }
      return this.retryIn(0, info);
    }
    if (TERMINAL_REASONS.has(info.reason)) return this.stop(info);
    if (wasAttempt) this.failures++;
    if (this.failures >= this.o.maxReconnectAttempts) {
      return this.stop({
        ...info,
        reason: 'max_attempts',
        message: `${this.failures} attempts failed; last: ${info.message}`,
      });
    }
    if (info.reason === 'offline' || this.waitingForOnline) return this.retryIn(undefined, info);
    this.retryIn(
      reconnectDelay(this.failures, this.o.minReconnectDelayMs, this.o.maxReconnectDelayMs, this.o.jitter),
      info,
    );
  }

  /** State `disconnected`, the next attempt in `ms` (undefined: when the network is back, or at the longest delay). */
  private retryIn(ms: number | undefined, info: DisconnectInfo): void {
    this.setState('disconnected');
    this.events.emit('disconnected', { ...info, reconnectInMs: ms });
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => void this.attempt(), ms ?? this.o.maxReconnectDelayMs);
  }

  private stop(info: DisconnectInfo): void {
    if (this.state === 'closed') return;
    this.run++;
    this.stopping.abort();
    this.stopping = new AbortController();
    clearTimeout(this.reconnectTimer);
    this.unwatchNetwork?.();
    this.unwatchNetwork = undefined;
    const live = this.live;
    this.live = undefined;
    if (live) {
      live.watch.stop();
      live.refresher?.stop();
      if (info.reason === 'closed') void live.client.close();
      else live.client.drop(4000, info.message);
      for (const sub of this.subs.values()) sub.disconnected();
    }
    this.queue.failAll(
      new PulseClientError('closed', `the client is closed (${info.reason}: ${info.message})`),
    );
    this.setState('closed');
    this.events.emit('closed', info);
  }

  private online(): void {
    this.waitingForOnline = false;
    if (this.state === 'disconnected') {
      clearTimeout(this.reconnectTimer);
      void this.attempt();
    }
  }

  private offline(): void {
    this.waitingForOnline = true;
    if (this.live) this.drop(this.live, { reason: 'offline', message: 'the browser went offline' });
    else if (this.state === 'disconnected') {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = setTimeout(() => void this.attempt(), this.o.maxReconnectDelayMs);
    }
  }

  /**
   * The live connection's client, unless it has just closed: `lost` runs a microtask after the
   * close, and a publish made synchronously before it (in an `offline` listener, say) must be
   * queued or refused as when disconnected, not sent to a connection that is gone.
   */
  private current(): PulseClient | undefined {
    const client = this.live?.client;
    return client === undefined || client.isClosed ? undefined : client;
  }

  /** The live connection, or the next one within `requestTimeoutMs`. */
  private connection(): Promise<PulseClient> {
    const client = this.current();
    if (client) return Promise.resolve(client);
    if (this.state === 'closed')
      return Promise.reject(new PulseClientError('closed', 'the client is closed'));
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        offConnected();
        offClosed();
      };
      const timer = setTimeout(() => {
        done();
        reject(new PulseClientError('timeout', `not connected within ${this.o.requestTimeoutMs} ms`));
      }, this.o.requestTimeoutMs);
      const offConnected = this.events.on('connected', () => {
        done();
        if (this.live) resolve(this.live.client);
      });
      const offClosed = this.events.on('closed', () => {
        done();
        reject(new PulseClientError('closed', 'the client is closed'));
      });
    });
  }

  private setState(state: ConnectionState): void {
    const previous = this.state;
    if (previous === state) return;
    this.state = state;
    this.events.emit('state', { state, previous });
  }
}
