import type { PulseConfig } from '../config/index.js';
import type { Connection } from '../transport/connection.js';
import { ConnectionLimiter, type ConnectionRates } from './connection-limiter.js';
import type { AdmissionRefusal } from './admission-refusal.js';
import { IpLimiter, ipKey } from './ip-limiter.js';
import { RateLimitStats } from './rate-limit-stats.js';

/**
 * The server's rate limits ([limits] in docs/SECURITY.md, "Rate limiting"): per client
 * address on connect, per connection on every message. With every limit at 0 (the default)
 * nothing is allocated: `admit` returns true at once and connections get no limiter.
 */
export class RateLimits {
  readonly stats = new RateLimitStats();
  private readonly rates: ConnectionRates | undefined;
  private readonly ip: IpLimiter | undefined;

  constructor(
    limits: PulseConfig['limits'],
    /** The server's pulse_connections_rejected_total counts, by reason. */
    private readonly rejected: Map<string, number>,
  ) {
    if (limits.messages_per_second > 0 || limits.bytes_per_second > 0) {
      this.rates = {
        messagesPerSecond: limits.messages_per_second,
        bytesPerSecond: limits.bytes_per_second,
        disconnectAfter: limits.rate_limit_disconnect_after,
        stats: this.stats,
      };
    }
    if (limits.connections_per_second_per_ip > 0 || limits.max_connections_per_ip > 0) {
      this.ip = new IpLimiter(limits.connections_per_second_per_ip, limits.max_connections_per_ip);
    }
  }

  /** Addresses remembered by the per-address limits (for tests). */
  get trackedAddresses(): number {
    return this.ip?.size ?? 0;
  }

  /**
   * A new connection, past the server's own checks: the per-address limit that refuses it
   * (counted in pulse_connections_rejected_total; the caller has its protocol say so and
   * must not track it), or undefined: it is counted for its address and gets its limiter.
   */
  admit(connection: Connection): AdmissionRefusal | undefined {
    if (this.ip !== undefined) {
      // Reading the address now also makes the socket keep it for `release` after the close.
      const refusal = this.ip.admit(ipKey(connection.remoteAddress), performance.now());
      if (refusal !== undefined) {
        this.rejected.set(refusal, (this.rejected.get(refusal) ?? 0) + 1);
        return refusal;
      }
    }
    if (this.rates !== undefined) connection.limiter = new ConnectionLimiter(this.rates);
    return undefined;
  }

  /** A connection `admit` accepted has closed. */
  release(connection: Connection): void {
    if (this.ip !== undefined) this.ip.release(ipKey(connection.remoteAddress), performance.now());
  }
}
