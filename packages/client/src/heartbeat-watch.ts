import { monotonicNow } from './monotonic.js';

/** What the watch needs of a connection. */
export interface Watched {
  /** `monotonicNow()` when bytes last arrived. */
  readonly lastReceivedAt: number;
  sendPing(): void;
}

export interface HeartbeatTimes {
  /** The server's `heartbeat` from `connected`: it pings a client silent that long. */
  heartbeatMs: number;
  /** How much later than `heartbeatMs` the server's traffic may come before the client asks. */
  graceMs: number;
  /** How long the client's own ping may go unanswered (no byte at all) before the connection counts as dead. */
  pingTimeoutMs: number;
}

/**
 * Detects a connection the network stopped carrying without closing it (no FIN, no RST: a NAT
 * that forgot it, a suspended laptop, a dead proxy). The server pings a silent client every
 * `heartbeat` ms, so on a live idle connection something arrives that often; when nothing has
 * for `heartbeat + grace`, the watch sends a ping of its own, and when nothing answers it within
 * `pingTimeout`, calls `onDead`. With `heartbeat` 0 (not announced) it does nothing.
 */
export class HeartbeatWatch {
  private timer: ReturnType<typeof setInterval> | undefined;
  private pingSentAt = 0;

  constructor(
    private readonly target: Watched,
    private readonly times: HeartbeatTimes,
    private readonly onDead: (silentMs: number) => void,
  ) {}

  start(): void {
    const { heartbeatMs, graceMs, pingTimeoutMs } = this.times;
    if (!(heartbeatMs > 0)) return;
    const period = Math.max(
      20,
      Math.min(1000, Math.floor(Math.min(heartbeatMs + graceMs, pingTimeoutMs) / 4)),
    );
    this.timer = setInterval(() => this.check(), period);
    (this.timer as { unref?: () => void }).unref?.();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private check(): void {
    // Monotonic: with Date.now() a clock set back an hour held detection off for an hour.
    const now = monotonicNow();
    const last = this.target.lastReceivedAt;
    if (this.pingSentAt > 0) {
      if (last >= this.pingSentAt) this.pingSentAt = 0;
      else if (now - this.pingSentAt >= this.times.pingTimeoutMs) {
        this.stop();
        this.onDead(now - last);
        return;
      }
    }
    if (this.pingSentAt === 0 && now - last >= this.times.heartbeatMs + this.times.graceMs) {
      this.pingSentAt = now;
      this.target.sendPing();
    }
  }
}
