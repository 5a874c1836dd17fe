import type { AdmissionRefusal } from './limits/admission-refusal.js';
import type { RateLimits } from './limits/rate-limits.js';
import type { Connection } from './transport/connection.js';

/** The protocol a listener speaks until the connection shows otherwise (a `/ws` socket may turn to JSON). */
export type ListenerProtocol = 'native' | 'mqtt';

/** A protocol's one way to refuse a connection: it says `refusal` on the wire and closes. */
export type ConnectionRefuser = (connection: Connection, refusal: AdmissionRefusal) => void;

/**
 * Who may open a connection, in order: not while the server drains, not past
 * limits.max_connections, not past the per-address limits (RateLimits). It decides; the
 * protocol's refuser says it (native error frame, MQTT CONNACK). Refusals are counted in
 * pulse_connections_rejected_total{reason} (but for draining).
 */
export class Admission {
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
    this.refusers[protocol](connection, refusal);
    return false;
  }

  private refusal(connection: Connection, open: number): AdmissionRefusal | undefined {
    if (open < this.maxConnections) return this.rateLimits.admit(connection);
    this.rejected.set('max_connections', (this.rejected.get('max_connections') ?? 0) + 1);
    return 'max_connections';
  }
}
