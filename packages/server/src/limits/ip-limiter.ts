import { TokenBucket } from './token-bucket.js';

export type IpRefusal = 'ip_rate' | 'ip_max';

/** Most addresses remembered without an open connection (idle ones are evicted past it). */
export const MAX_IDLE_ADDRESSES = 100_000;
/** How often (at most) idle addresses with a full bucket are forgotten, in ms. */
const SWEEP_INTERVAL_MS = 10_000;

/** One client address: its connection bucket and its open connections. */
class IpEntry extends TokenBucket {
  open = 0;
}

/** `::ffff:192.0.2.1` (an IPv4 client on a dual-stack listener) is the IPv4 address. */
export function ipKey(address: string | undefined): string {
  if (address === undefined) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/**
 * limits.connections_per_second_per_ip and limits.max_connections_per_ip: a token bucket and
 * an open-connection count per client address, in one Map entry.
 *
 * Memory stays bounded: an address with no open connection whose bucket has refilled is the
 * same as one never seen, so it is dropped (at its last close if it is already full, else at
 * the next sweep, run at most every 10 s from `admit`, no timer). Past MAX_IDLE_ADDRESSES
 * entries, idle addresses are evicted oldest first even if not yet refilled (they get a fresh
 * bucket if they come back). Addresses with open connections are never evicted: there are at
 * most limits.max_connections of them.
 */
export class IpLimiter {
  private readonly entries = new Map<string, IpEntry>();
  private nextSweep = 0;
  private sweepAtSize: number;

  constructor(
    /** New connections per second per address (0 = no limit). */
    private readonly ratePerSecond: number,
    /** Open connections per address (0 = no limit). */
    private readonly maxOpen: number,
    private readonly maxIdle = MAX_IDLE_ADDRESSES,
  ) {
    this.sweepAtSize = maxIdle;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Counts a new connection from `ip` as open, or says why it is refused (then counts nothing). */
  admit(ip: string, now: number): IpRefusal | undefined {
    let entry = this.entries.get(ip);
    if (entry === undefined) {
      if (this.entries.size >= this.sweepAtSize || now >= this.nextSweep) this.sweep(now);
      entry = new IpEntry(this.ratePerSecond, now);
      this.entries.set(ip, entry);
    }
    if (this.maxOpen > 0 && entry.open >= this.maxOpen) return 'ip_max';
    if (this.ratePerSecond > 0 && !entry.tryTake(1, now)) return 'ip_rate';
    entry.open++;
    return undefined;
  }

  /** A connection `admit` counted has closed. */
  release(ip: string, now: number): void {
    const entry = this.entries.get(ip);
    if (entry === undefined) return;
    if (entry.open > 0) entry.open--;
    if (entry.open === 0 && entry.isFull(now)) this.entries.delete(ip);
  }

  /** Drops idle, refilled addresses; past the cap, idle ones oldest first (Map order). */
  sweep(now: number): void {
    this.nextSweep = now + SWEEP_INTERVAL_MS;
    for (const [ip, entry] of this.entries) {
      if (entry.open === 0 && entry.isFull(now)) this.entries.delete(ip);
    }
    if (this.entries.size >= this.maxIdle) {
      const target = Math.floor(this.maxIdle * 0.9);
      for (const [ip, entry] of this.entries) {
        if (this.entries.size <= target) break;
        if (entry.open === 0) this.entries.delete(ip);
      }
    }
    // What is left has open connections: let it grow by a tenth before sweeping again on size.
    this.sweepAtSize = Math.max(this.maxIdle, this.entries.size + Math.ceil(this.maxIdle / 10));
  }
}
