import type { ConnectedFrame } from '@pulse/protocol/frames';
import { PulseClientError, PulseError } from './errors.js';
import { subscriptionMatches } from './filter-match.js';
import { FrameSplitter, encodeFrame } from './framing.js';
import { monotonicNow } from './monotonic.js';
import type { ClientTransport, WebSocketConstructor } from './transport.js';
import { type WebSocketProtocol, openWebSocketWith, webSocketConstructor } from './transports.js';

export interface Publication {
  channel: string;
  payload: Uint8Array;
  event?: string;
  offset?: number;
  epoch?: string;
}

/** A position in a channel's history stream: the offset of a publication and its epoch. */
export interface StreamPosition {
  offset: number;
  epoch: string;
}

export interface SubscribeOptions {
  /** Ask for every publication after this position (from `lastPosition`, or a publication). */
  recover?: StreamPosition;
}

/** The subscribe ack. `offset`/`epoch` are set when the channel keeps history. */
export interface SubscribeResult {
  /** With `recover`: true when the publications missed since then were delivered (before any live one). */
  recovered?: boolean;
  offset?: number;
  epoch?: string;
}

export interface HistoryOptions {
  /** Only publications after this position (when its epoch is still the channel's). */
  since?: StreamPosition;
  /** 1..1000, default 100. */
  limit?: number;
}

export interface HistoryResult {
  /** Oldest first; each carries its `offset` and `epoch`. */
  publications: Publication[];
  /** The channel's current position. */
  offset: number;
  epoch: string;
}

export interface PresenceEvent {
  channel: string;
  action: 'join' | 'leave' | 'update';
  connectionId: string;
  user?: string;
  data?: Record<string, unknown>;
}

export interface ClientOptions {
  /** WebSocket implementation; defaults to the global one (browsers, Node 22+). */
  WebSocket?: WebSocketConstructor;
  /** `connect()`: the native binary protocol (default) or the JSON protocol; the API is the same. */
  protocol?: WebSocketProtocol;
  /** Sent in a `connect` frame after the socket opens. */
  token?: string;
  /** How long a request waits for its ack (ms). */
  requestTimeoutMs?: number;
  /** How long `connected` may take once the transport is open (ms); then the connect fails. Default: none. */
  connectTimeoutMs?: number;
}

interface Pending {
  resolve(frame: Record<string, unknown>): void;
  reject(err: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

const PRESENCE_ACTIONS = ['join', 'leave', 'update'] as const;

/**
 * What a refused `connect` gets (1003, or 1011 when the auth hook failed). While a token
 * refresh waits for its answer, other errors without a request id (a refused publish sent
 * without ack, say) are not its answer.
 */
const CONNECT_REFUSALS: ReadonlySet<number> = new Set([1003, 1011]);

/**
 * A Pulse client for the native protocol, over WebSocket (browsers and Node) or raw TCP
 * (Node, via `@pulse/client/tcp`). Requests return promises settled by the server's ack or error.
 */
export class PulseClient {
  connectionId = '';
  heartbeatMs = 0;
  /**
   * When bytes last arrived, on the monotonic clock (`performance.now()`, not `Date.now()`: the
   * reconnecting client's dead-connection check reads it, and a wall clock set back would
   * hold that check off for as long).
   */
  lastReceivedAt = monotonicNow();
  /** Set by `drop()`: whatever the transport still delivers is ignored. */
  private dropped = false;
  /** Set once the connection has closed (or was dropped): requests fail at once. */
  private ended = false;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly handlers = new Map<string, Set<(p: Publication) => void>>();
  private readonly positions = new Map<string, StreamPosition>();
  private readonly presenceHandlers = new Set<(e: PresenceEvent) => void>();
  private readonly errorHandlers = new Set<(e: PulseError) => void>();
  private readonly splitter = new FrameSplitter();
  private connectedWaiter: ((f: ConnectedFrame) => void) | undefined;
  private connectFailed: ((e: PulseError) => void) | undefined;
  private closedResolve!: (info: { code: number; reason: string }) => void;
  /** Settles when the connection has closed. */
  readonly closed = new Promise<{ code: number; reason: string }>((r) => {
    this.closedResolve = r;
  });

  private constructor(
    private readonly transport: ClientTransport,
    private readonly timeoutMs: number,
  ) {}

  private attach(): void {
    this.transport.attach(
      (bytes) => {
        if (this.dropped) return;
        this.lastReceivedAt = monotonicNow();
        try {
          this.splitter.push(bytes, (frame) => this.onFrame(frame));
        } catch (err) {
          this.emitError(new PulseError(1001, (err as Error).message));
          this.transport.close();
        }
      },
      (code, reason) => this.teardown(code, reason),
    );
  }

  private teardown(code: number, reason: string): void {
    this.ended = true;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new PulseClientError('disconnected', 'connection closed'));
    }
    this.pending.clear();
    this.closedResolve({ code, reason });
  }

  /**
   * True once the connection has closed or was dropped, at once: `closed` settles a microtask
   * later, and what is sent meanwhile would go nowhere.
   */
  get isClosed(): boolean {
    return this.ended;
  }

  /**
   * Gives the connection up at once: pending requests fail, `closed` settles with `code`, and
   * nothing more is delivered, without waiting for the transport's close (a connection the
   * network silently stopped carrying may never report one).
   */
  drop(code: number, reason: string): void {
    if (this.dropped) return;
    this.dropped = true;
    this.connectedWaiter = undefined;
    this.connectFailed?.(new PulseClientError('disconnected', reason));
    this.teardown(code, reason);
    this.transport.close();
  }

  static async connect(url: string, options: ClientOptions = {}): Promise<PulseClient> {
    const Ctor = webSocketConstructor(options.WebSocket);
    return PulseClient.over(await openWebSocketWith(url, Ctor, options.protocol), options);
  }

  /** Runs the client over an already open transport (e.g. `openTcp` from `@pulse/client/tcp`). */
  static async over(transport: ClientTransport, options: ClientOptions = {}): Promise<PulseClient> {
    const client = new PulseClient(transport, options.requestTimeoutMs ?? 10_000);
    const connected = new Promise<ConnectedFrame>((resolve, reject) => {
      client.connectedWaiter = resolve;
      // An error before `connected` (e.g. 1003 for a refused token) fails the connect with it.
      client.connectFailed = reject;
      client.closed.then(() =>
        reject(new PulseClientError('disconnected', 'connection closed before connected')),
      );
    });
    client.attach();
    if (options.token !== undefined) client.send({ type: 'connect', version: 1, token: options.token });
    const limit = options.connectTimeoutMs;
    const timer =
      limit === undefined
        ? undefined
        : setTimeout(
            () =>
              client.connectFailed?.(
                new PulseClientError('timeout', `no connected frame within ${limit} ms`),
              ),
            limit,
          );
    try {
      const frame = await connected;
      client.connectionId = frame.connection_id;
      client.heartbeatMs = frame.heartbeat;
      return client;
    } catch (err) {
      client.drop(1006, (err as Error).message);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Sends `connect` with a new token on the live connection (docs/PROTOCOL.md, "Lifecycle");
   * resolves on the server's `connected`. A refused token fails with its error (1003) and the
   * server closes the connection.
   */
  refreshToken(token: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.connectedWaiter = undefined;
        this.connectFailed = undefined;
        reject(new PulseClientError('timeout', 'token refresh timed out'));
      }, this.timeoutMs);
      this.connectedWaiter = () => {
        clearTimeout(timer);
        resolve();
      };
      this.connectFailed = (err) => {
        clearTimeout(timer);
        reject(err);
      };
      this.closed.then(() => {
        clearTimeout(timer);
        reject(new PulseClientError('disconnected', 'connection closed'));
      });
      this.send({ type: 'connect', version: 1, token });
    });
  }

  /**
   * Subscribes to a channel or wildcard filter; `handler` gets every publication it matches.
   * With `recover`, the publications missed since that position reach `handler` first
   * (when the ack says `recovered: true`), then live ones, with no gap and no duplicate.
   */
  async subscribe(
    channel: string,
    handler: (p: Publication) => void,
    options: SubscribeOptions = {},
  ): Promise<SubscribeResult> {
    // Registered before the request: recovered publications follow the ack at once.
    let set = this.handlers.get(channel);
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
    }
    const added = !set.has(handler);
    set.add(handler);
    let ack: Record<string, unknown>;
    try {
      ack = await this.request(
        options.recover
          ? { type: 'subscribe', channel, recover: options.recover }
          : { type: 'subscribe', channel },
      );
    } catch (err) {
      if (added) set.delete(handler);
      if (set.size === 0 && this.handlers.get(channel) === set) this.handlers.delete(channel);
      throw err;
    }
    const result: SubscribeResult = {};
    if (typeof ack.recovered === 'boolean') result.recovered = ack.recovered;
    if (typeof ack.offset === 'number' && typeof ack.epoch === 'string') {
      result.offset = ack.offset;
      result.epoch = ack.epoch;
      this.notePosition(channel, ack.offset, ack.epoch);
    }
    return result;
  }

  /** A page of a channel's history (`since` and `limit` page forward; without `since`, the newest). */
  async history(channel: string, options: HistoryOptions = {}): Promise<HistoryResult> {
    const reply = await this.request({
      type: 'history',
      channel,
      since: options.since,
      limit: options.limit,
    });
    const epoch = reply.epoch as string;
    const list = (reply.publications ?? []) as { offset: number; event?: string; payload: Uint8Array }[];
    return {
      publications: list.map((p) => ({
        channel,
        payload: p.payload,
        event: p.event,
        offset: p.offset,
        epoch,
      })),
      offset: reply.offset as number,
      epoch,
    };
  }

  /** The newest position seen on `channel` (from publications and subscribe acks), to recover from later. */
  lastPosition(channel: string): StreamPosition | undefined {
    return this.positions.get(channel);
  }

  private notePosition(channel: string, offset: number, epoch: string): void {
    const known = this.positions.get(channel);
    if (known && known.epoch === epoch && known.offset >= offset) return;
    this.positions.set(channel, { offset, epoch });
  }

  async unsubscribe(channel: string): Promise<void> {
    // Before the request: a subscribe sent right after it must keep the handler it registers.
    this.handlers.delete(channel);
    await this.request({ type: 'unsubscribe', channel });
  }

  /** Publishes; with `ack` (the default) resolves when the server has routed it. */
  async publish(channel: string, payload: Uint8Array | string, opts: { event?: string; ack?: boolean } = {}) {
    const bytes = typeof payload === 'string' ? new TextEncoder().encode(payload) : payload;
    const frame = { type: 'publish', channel, payload: bytes, event: opts.event };
    if (opts.ack === false) this.send(frame);
    else await this.request(frame);
  }

  readonly presence = {
    join: (channel: string, data?: Record<string, unknown>) =>
      this.request({ type: 'presence', channel, action: 0, data }).then(() => {}),
    leave: (channel: string) => this.request({ type: 'presence', channel, action: 1 }).then(() => {}),
    update: (channel: string, data?: Record<string, unknown>) =>
      this.request({ type: 'presence', channel, action: 2, data }).then(() => {}),
    /** `{connection_id: data}` of every member of the channel. */
    sync: async (channel: string): Promise<Record<string, Record<string, unknown>>> => {
      const reply = await this.request({ type: 'presence', channel, action: 3 });
      return (reply.data ?? {}) as Record<string, Record<string, unknown>>;
    },
  };

  onPresence(handler: (e: PresenceEvent) => void): () => void {
    this.presenceHandlers.add(handler);
    return () => this.presenceHandlers.delete(handler);
  }

  /** Errors the server sends without a request id (e.g. shutdown, heartbeat timeout). */
  onError(handler: (e: PulseError) => void): () => void {
    this.errorHandlers.add(handler);
    return () => this.errorHandlers.delete(handler);
  }

  /** Round-trip time of a ping, in ms. */
  async ping(): Promise<number> {
    const started = monotonicNow();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new PulseClientError('timeout', 'ping timed out')),
        this.timeoutMs,
      );
      this.pongWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
      this.send({ type: 'ping', timestamp: Date.now() });
    });
    return monotonicNow() - started;
  }

  private readonly pongWaiters: (() => void)[] = [];

  close(): Promise<{ code: number; reason: string }> {
    this.transport.close();
    return this.closed;
  }

  /** Sends a raw frame object (for tests and tools). */
  send(frame: object): void {
    this.transport.send(encodeFrame(frame));
  }

  private request(frame: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      // Nothing would answer it: failed now rather than after requestTimeoutMs.
      if (this.ended) return reject(new PulseClientError('disconnected', 'connection closed'));
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new PulseClientError('timeout', `request ${id} (${String(frame.type)}) timed out`));
      }, this.timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.send({ ...frame, id });
    });
  }

  private settle(id: number, frame: Record<string, unknown>, error?: PulseError): boolean {
    const p = this.pending.get(id);
    if (!p) return false;
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (error) p.reject(error);
    else p.resolve(frame);
    return true;
  }

  private emitError(error: PulseError): void {
    for (const h of this.errorHandlers) h(error);
  }

  private onFrame(frame: Record<string, unknown>): void {
    switch (frame.type) {
      case 'publish': {
        const channel = frame.channel as string;
        const publication: Publication = {
          channel,
          payload: frame.payload as Uint8Array,
          event: frame.event as string | undefined,
          offset: frame.offset as number | undefined,
          epoch: frame.epoch as string | undefined,
        };
        if (publication.offset !== undefined && publication.epoch !== undefined) {
          this.notePosition(channel, publication.offset, publication.epoch);
        }
        for (const [filter, set] of this.handlers) {
          if (subscriptionMatches(filter, channel)) for (const h of set) h(publication);
        }
        return;
      }
      case 'presence': {
        const action = frame.action as number;
        if (action === 3) {
          this.settle(frame.id as number, frame);
          return;
        }
        const name = PRESENCE_ACTIONS[action];
        if (name === undefined) return; // an action this client does not know: nothing to tell
        const event: PresenceEvent = {
          channel: frame.channel as string,
          action: name,
          connectionId: frame.connection_id as string,
          user: frame.user as string | undefined,
          data: frame.data as Record<string, unknown> | undefined,
        };
        for (const h of this.presenceHandlers) h(event);
        return;
      }
      case 'ack':
        this.settle(frame.id as number, frame);
        return;
      case 'error': {
        const error = new PulseError(frame.code as number, frame.message as string);
        const refused = this.connectionId === '' || CONNECT_REFUSALS.has(error.code);
        if (!frame.id && this.connectedWaiter !== undefined && refused) {
          this.connectedWaiter = undefined;
          this.connectFailed?.(error);
          this.transport.close();
          return;
        }
        if (!frame.id || !this.settle(frame.id as number, frame, error)) this.emitError(error);
        return;
      }
      case 'ping':
        this.send(
          frame.timestamp === undefined ? { type: 'pong' } : { type: 'pong', timestamp: frame.timestamp },
        );
        return;
      case 'pong':
        this.pongWaiters.shift()?.();
        return;
      case 'connected':
        this.connectedWaiter?.(frame as unknown as ConnectedFrame);
        this.connectedWaiter = undefined;
        this.connectFailed = undefined;
        return;
    }
  }
}
