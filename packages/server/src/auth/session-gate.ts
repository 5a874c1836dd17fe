import type { Broker, Refusal, Subscriber } from '@pulse/core';
import type { Connection } from '../transport/connection.js';
import type { InputBudget } from '@pulse/protocol';
import type { Access, Verdict } from './auth-service.js';
import { ExpiryTimer } from './expiry.js';

/** Requests held while a decision is awaited; past this, the connection is closed. */
export const MAX_HELD = 1024;
/** Bytes of requests held while a decision is awaited (a few of the largest MQTT packets); past this, the connection is closed. */
export const MAX_HELD_BYTES = 4 * 1_048_576;

/** What the gate needs of its session. */
export interface GateOwner<T> {
  /** Handles one held request, exactly as if it had just arrived. */
  process(item: T): void;
  /** True once the connection is closing: held requests are dropped. */
  readonly stopped: boolean;
  /** A continuation threw (a bug): answered as an internal error by the session. */
  failed(err: unknown): void;
  /** Where an exception that escapes even `failed` (or a timer) is contained: it closes this connection only. */
  readonly connection: Pick<Connection, 'contain'>;
}

/**
 * The authentication state of one session (native, JSON or MQTT), created only when auth or
 * hooks are on: whether it has authenticated, what it may do, its token's expiry, and the
 * requests that arrived while an asynchronous decision (a token check, a hook) was pending.
 * Those are held and then handled in order, so that a connection's publications are never
 * reordered by the wait.
 */
export class SessionGate<T extends { readonly length: number }> {
  authenticated: boolean;
  access: Access | undefined = undefined;
  /** Requests waiting for the pending decision, in arrival order; undefined when none is pending. */
  held: T[] | undefined = undefined;
  private heldBytes = 0;
  /** Decisions being awaited (a continuation may wait again). */
  private pending = 0;
  private expiry: ExpiryTimer | undefined;

  constructor(
    private readonly owner: GateOwner<T>,
    authenticated: boolean,
    /** Held requests are charged to it too (limits.max_pending_input_bytes). */
    private readonly budget?: InputBudget,
  ) {
    this.authenticated = authenticated;
  }

  /**
   * Holds a request that arrived during a wait; false when too many requests or bytes are held
   * already (an unauthenticated client must not make the server buffer without bound).
   */
  hold(item: T): boolean {
    const held = this.held as T[];
    if (held.length >= MAX_HELD || this.heldBytes + item.length > MAX_HELD_BYTES) return false;
    if (this.budget !== undefined && !this.budget.reserve(item.length)) return false;
    held.push(item);
    this.heldBytes += item.length;
    return true;
  }

  /**
   * Holds every later request until `promise` settles, then runs `then` with its value and
   * handles the held requests in order (holding again if one of them waits in turn). `then`
   * may itself wait: the held requests stay held until that wait is over too.
   */
  wait<R>(promise: Promise<R>, then: (value: R) => void): void {
    this.held ??= [];
    this.pending++;
    const connection = this.owner.connection;
    promise.then(
      (value) => connection.contain('auth', () => this.settled(() => then(value))),
      (err) => connection.contain('auth', () => this.settled(() => this.owner.failed(err))),
    );
  }

  private settled(run: () => void): void {
    this.pending--;
    if (this.owner.stopped) return;
    try {
      run();
    } catch (err) {
      this.owner.failed(err);
    }
    if (this.pending === 0) this.release();
  }

  private release(): void {
    const items = this.held as T[];
    this.held = undefined;
    this.heldBytes = 0;
    for (const [i, item] of items.entries()) {
      if (this.owner.stopped) return this.uncharge(items, i);
      this.budget?.release(item.length);
      try {
        this.owner.process(item);
      } catch (err) {
        this.owner.failed(err);
      }
      if (this.held !== undefined) {
        // Waiting again: the rest stay in front of anything that arrives later (still charged).
        for (const rest of items.slice(i + 1)) {
          (this.held as T[]).push(rest);
          this.heldBytes += rest.length;
        }
        return;
      }
    }
  }

  /** Gives back the budget of held requests that will not be handled (from `from` on). */
  private uncharge(items: T[], from: number): void {
    if (this.budget === undefined) return;
    for (const item of items.slice(from)) this.budget.release(item.length);
  }

  /** Calls `fn` when the token expires (epoch ms); replaces an earlier expiry. */
  expireAt(atMs: number | undefined, fn: () => void): void {
    this.expiry?.cancel();
    const connection = this.owner.connection;
    this.expiry =
      atMs === undefined ? undefined : new ExpiryTimer(atMs, () => connection.contain('timer', fn));
  }

  /** The connection has closed: no timer may fire. */
  close(): void {
    this.expiry?.cancel();
    this.expiry = undefined;
    this.budget?.release(this.heldBytes);
    this.held = undefined;
    this.heldBytes = 0;
  }
}

/**
 * After a re-`connect` (token refresh): the subscriptions and presence memberships that the new
 * access no longer allows are dropped silently, as if the client had left them (the same check
 * as a subscribe: the rights alone, hooks are not asked again). Nothing to do when unrestricted.
 */
/**
 * Runs `allowed` when `verdict` allows, `refused` with its refusal when it does not. A verdict
 * still pending (a hook) is awaited through `gate`, which holds the connection's later
 * requests until it is decided, so that their order is kept.
 */
export function decide<T extends { readonly length: number }>(
  gate: SessionGate<T> | undefined,
  verdict: Verdict,
  allowed: () => void,
  refused: (refusal: Refusal) => void,
): void {
  if (verdict instanceof Promise) {
    (gate as SessionGate<T>).wait(verdict, (r) => (r === undefined ? allowed() : refused(r)));
  } else if (verdict === undefined) allowed();
  else refused(verdict);
}

export function dropForbidden(broker: Broker, subscriber: Subscriber, access: Access | undefined): void {
  if (access === undefined || access.rights.unrestricted) return;
  if (subscriber.filters !== undefined) {
    for (const filter of [...subscriber.filters]) {
      if (!access.allows('subscribe', filter)) broker.unsubscribe(subscriber, filter);
    }
  }
  if (subscriber.presenceChannels !== undefined) {
    for (const channel of [...subscriber.presenceChannels]) {
      if (!access.allows('subscribe', channel)) broker.presenceLeave(subscriber, channel);
    }
  }
}
