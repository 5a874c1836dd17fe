/**
 * A token bucket: at most `capacity` tokens (one second of the rate, so a burst of one
 * second's worth is allowed), refilled continuously at `ratePerSecond`. Four numbers and no
 * timer: the caller passes the time (milliseconds, `performance.now()` time base), so that
 * one clock reading serves many calls. O(1) per call.
 */
export class TokenBucket {
  tokens: number;
  private last: number;
  private readonly perMs: number;
  readonly capacity: number;

  constructor(ratePerSecond: number, now: number) {
    this.capacity = ratePerSecond;
    this.perMs = ratePerSecond / 1000;
    this.tokens = ratePerSecond;
    this.last = now;
  }

  /** Adds what accrued since the last refill; a `now` at or before it adds nothing. */
  refill(now: number): void {
    const elapsed = now - this.last;
    if (elapsed <= 0) return;
    this.last = now;
    const tokens = this.tokens + elapsed * this.perMs;
    this.tokens = tokens < this.capacity ? tokens : this.capacity;
  }

  /** Takes `n` tokens if the bucket holds that many at `now`; otherwise takes none. */
  tryTake(n: number, now: number): boolean {
    this.refill(now);
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }

  /**
   * Takes `n` tokens whether or not they are there (bytes already received cannot be sent
   * back): the bucket goes into debt, at most one second's worth (one `capacity`) deep.
   */
  charge(n: number, now: number): void {
    this.refill(now);
    const tokens = this.tokens - n;
    this.tokens = tokens > -this.capacity ? tokens : -this.capacity;
  }

  /** Full at `now`: a bucket in this state can be forgotten and made again with no difference. */
  isFull(now: number): boolean {
    this.refill(now);
    return this.tokens >= this.capacity;
  }
}
