import type { RateLimit, RateLimitStats, RateLimitedProtocol } from './rate-limit-stats.js';
import { TokenBucket } from './token-bucket.js';

/** What every limiter of one server shares (one reference per connection). */
export interface ConnectionRates {
  /** limits.messages_per_second (0 = off). */
  readonly messagesPerSecond: number;
  /** limits.bytes_per_second (0 = off). */
  readonly bytesPerSecond: number;
  /** limits.rate_limit_disconnect_after: limited messages in a row that close the connection. */
  readonly disconnectAfter: number;
  readonly stats: RateLimitStats;
}

/** A message refused by a rate limit (ConnectionLimiter.verdict). */
export interface RateVerdict {
  readonly limit: RateLimit;
  /** The rate_limit_disconnect_after-th refusal in a row: the connection is closed after the answer. */
  readonly exhausted: boolean;
  /** What the client is told. */
  readonly message: string;
}

/**
 * The inbound rate limits of one connection: a message bucket and a byte bucket, each only
 * when its limit is on. It exists only when one of them is: with both limits at 0 a
 * connection's `limiter` is undefined and the data path tests nothing else.
 *
 * Time: the clock is read once per chunk read from the socket (`received`), and every message
 * parsed out of that chunk is judged at that time; never once per message. The server's
 * CoarseClock is not precise enough: it is ticked by the heartbeat sweep, up to a second
 * apart, and a bucket refilled at a time that lags by up to a second would let through up to
 * one more second's worth.
 */
export class ConnectionLimiter {
  private readonly messages: TokenBucket | undefined;
  private readonly bytes: TokenBucket | undefined;
  /** Messages limited in a row; an admitted one resets it. */
  private strikes = 0;
  /** When the chunk being handled was read (performance.now()). */
  private now: number;

  constructor(private readonly rates: ConnectionRates) {
    const now = performance.now();
    this.now = now;
    this.messages = rates.messagesPerSecond > 0 ? new TokenBucket(rates.messagesPerSecond, now) : undefined;
    this.bytes = rates.bytesPerSecond > 0 ? new TokenBucket(rates.bytesPerSecond, now) : undefined;
  }

  /**
   * A chunk of `n` bytes was read, before any of it is parsed: notes the time, and counts the
   * bytes (over the budget, the byte bucket goes into debt).
   */
  received(n: number, now = performance.now()): void {
    this.now = now;
    if (this.bytes !== undefined) this.bytes.charge(n, now);
  }

  /**
   * Asks to handle one message that does work: undefined = go ahead (one message token
   * taken), else the limit it is over. While the byte bucket is in debt every message is
   * refused with 'bytes' (and takes no message token).
   */
  admit(): RateLimit | undefined {
    const bytes = this.bytes;
    // `received` has just refilled and charged it, at the same time.
    if (bytes !== undefined && bytes.tokens < 0) return this.strike('bytes');
    const messages = this.messages;
    if (messages !== undefined && !messages.tryTake(1, this.now)) return this.strike('messages');
    this.strikes = 0;
    return undefined;
  }

  /**
   * `admit` as a verdict for the protocols to answer (docs/SECURITY.md, "Rate limiting"):
   * undefined = go ahead; else the limit, whether this is the last refusal in a row (the
   * protocol closes the connection after answering) and what the client is told. The refusal
   * is counted; a disconnect is counted by the protocol that closes (countDisconnect).
   */
  verdict(protocol: RateLimitedProtocol): RateVerdict | undefined {
    const limit = this.admit();
    if (limit === undefined) return undefined;
    this.countLimited(protocol, limit);
    const exhausted = this.exhausted;
    const message = exhausted
      ? `rate limited (${this.describe(limit)}) too many times in a row: closing`
      : `rate limited: ${this.describe(limit)}`;
    return { limit, exhausted, message };
  }

  /** The message just refused is the rate_limit_disconnect_after-th in a row: close the connection. */
  get exhausted(): boolean {
    return this.strikes >= this.rates.disconnectAfter;
  }

  /** Counts a refused message in the metrics (pulse_rate_limited_total). */
  countLimited(protocol: RateLimitedProtocol, limit: RateLimit): void {
    this.rates.stats.limited[protocol][limit]++;
  }

  /** Counts a connection closed for its rate (pulse_rate_limit_disconnects_total). */
  countDisconnect(protocol: RateLimitedProtocol): void {
    this.rates.stats.disconnects[protocol]++;
  }

  /** "over 10 messages per second" */
  describe(limit: RateLimit): string {
    const rate = limit === 'messages' ? this.rates.messagesPerSecond : this.rates.bytesPerSecond;
    return `over ${rate} ${limit} per second`;
  }

  private strike(limit: RateLimit): RateLimit {
    this.strikes++;
    return limit;
  }
}
