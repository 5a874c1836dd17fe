import type { CoarseClock } from './coarse-clock.js';

/** What the heartbeat monitor needs of a connection's protocol session. */
export interface HeartbeatTarget {
  lastSeen: number;
  /** Its input is paused by the server (publisher-pause.ts): its silence is not its own. */
  readonly inputHeld: boolean;
  /**
   * A timeout of the connection's own (MQTT keep alive × 1.5); 0 = never. When set, the
   * server sends no pings and the global heartbeat settings do not apply.
   */
  ownTimeoutMs: number | undefined;
  pingSent: boolean;
  /** Clock reading by which the handshake must be done; 0 when it is (or has no deadline). */
  handshakeDeadline: number;
  /** The handshake deadline has passed. */
  missedHandshakeDeadline(): void;
  sendPing(): void;
  /** Closes a connection that stayed silent past the timeout. */
  expire(): void;
}

/**
 * One timer for all connections instead of one per connection: every sweep closes clients
 * past their handshake deadline, pings clients silent for `intervalMs` and closes those
 * silent for `timeoutMs`. It also keeps the coarse clock that connections stamp `lastSeen`
 * with, so no clock is read per received chunk.
 */
export class HeartbeatMonitor {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly intervalMs: number,
    private readonly timeoutMs: number,
    private readonly handshakeTimeoutMs: number,
    private readonly targets: () => Iterable<HeartbeatTarget>,
    private readonly clock: CoarseClock,
  ) {}

  start(): void {
    const shortest = Math.min(this.intervalMs, this.timeoutMs, this.handshakeTimeoutMs);
    const period = Math.max(5, Math.min(1000, Math.floor(shortest / 4)));
    this.timer = setInterval(() => this.sweep(), period);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  sweep(): void {
    const now = this.clock.tick();
    for (const target of this.targets()) {
      const deadline = target.handshakeDeadline;
      if (deadline !== 0 && now >= deadline) {
        target.missedHandshakeDeadline();
        continue;
      }
      if (target.inputHeld) continue;
      const silent = now - target.lastSeen;
      const own = target.ownTimeoutMs;
      if (own !== undefined) {
        if (own > 0 && silent >= own) target.expire();
        continue;
      }
      if (silent >= this.timeoutMs) target.expire();
      else if (silent >= this.intervalMs && !target.pingSent) {
        target.pingSent = true;
        target.sendPing();
      }
    }
  }
}
