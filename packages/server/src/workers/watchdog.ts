/** How often the primary asks each listening worker for a sign of life. */
export const WATCHDOG_PING_MS = 1000;

/** What the watchdog needs of one worker place. */
export interface Watched {
  readonly name: string;
  /** Listening, and so given its share of new connections. */
  readonly ready: boolean;
  /** Date.now() of the last message from its process. */
  readonly lastHeard: number;
  ping(): void;
  /** Kills the process (its exit is a crash: restarted, within the crash budget). */
  kill(reason: string): void;
}

/**
 * The primary's watch over hung workers (docs/CLUSTER.md, "Workers"): a worker whose event
 * loop is stuck still holds its share of the listening ports, so the kernel goes on handing
 * it connections that nobody serves. Each listening worker is pinged every second; one that
 * has said nothing for `server.worker_watchdog_ms` is killed, and restarted like any crash.
 */
export class Watchdog {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly slots: readonly Watched[],
    private readonly timeoutMs: number,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.check(Date.now()), WATCHDOG_PING_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  check(now: number): void {
    for (const slot of this.slots) {
      if (!slot.ready) continue;
      const silent = now - slot.lastHeard;
      if (silent >= this.timeoutMs) slot.kill(`did not answer for ${silent} ms`);
      else slot.ping();
    }
  }
}
