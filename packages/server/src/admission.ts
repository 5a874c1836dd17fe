import type { AdmissionRefusal } from './limits/admission-refusal.js';
import type { RateLimits } from './limits/rate-limits.js';
import type { Connection } from './transport/connection.js';

/** The protocol a listener speaks until the connection shows otherwise (a `/ws` socket may turn to JSON). */
export type ListenerProtocol = 'native' | 'mqtt';

/** A protocol's one way to refuse a connection: it says `refusal` on the wire and closes. */
export type ConnectionRefuser = (connection: Connection, refusal: AdmissionRefusal) => void;

/**
 * Refused connections being answered at once (an MQTT refusal waits up to 2 s for the CONNECT,
 * a native one flushes its error frame): past this many, a refused connection is closed without
 * an answer, so that a flood of refused connections cannot hold the server's descriptors
 * (docs/SECURITY.md, "Rate limiting").
 */
export const MAX_REFUSALS_ANSWERING = 256;

/**
 * Who may open a connection, in order: not while the server drains, not past
 * limits.max_connections, not past the per-address limits (RateLimits). It decides; the
 * protocol's refuser says it (native error frame, MQTT CONNACK). Refusals are counted in
 * pulse_connections_rejected_total{reason} (but for draining).
 */
export class Admission {
  /** Refused connections whose refuser has not closed them yet (at most MAX_REFUSALS_ANSWERING). */
  private readonly answering = new Set<Connection>();
  /** Refused connections closed without an answer because MAX_REFUSALS_ANSWERING were being answered. */
  unanswered = 0;

  constructor(
    private readonly maxConnections: number,
    private readonly rateLimits: RateLimits,
    /** The server's pulse_connections_rejected_total counts, by reason. */
    private readonly rejected: Map<string, number>,
    private readonly refusers: Record<ListenerProtocol, ConnectionRefuser>,
  ) {}

  /**
   * True when `connection` may start its protocol (it is then counted for its address and has
   * its rate limiter); else it has been refused, is closing and must not be tracked.
   */
  admit(connection: Connection, protocol: ListenerProtocol, open: number, draining: boolean): boolean {
    const refusal = draining ? 'draining' : this.refusal(connection, open);
    if (refusal === undefined) return true;
    if (this.answering.size >= MAX_REFUSALS_ANSWERING) {
      this.unanswered++;
      connection.abort();
      return false;
    }
    this.answering.add(connection);
    this.refusers[protocol](connection, refusal);
    return false;
  }

  /** `connection` has closed: a refused one no longer counts against MAX_REFUSALS_ANSWERING. */
  closed(connection: Connection): void {
    this.answering.delete(connection);
  }

  private refusal(connection: Connection, open: number): AdmissionRefusal | undefined {
    if (open < this.maxConnections) return this.rateLimits.admit(connection);
    this.rejected.set('max_connections', (this.rejected.get('max_connections') ?? 0) + 1);
    return 'max_connections';
  }
}
