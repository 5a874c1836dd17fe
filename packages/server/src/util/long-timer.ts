/** setTimeout's longest delay: a longer one fires at once (Node clamps it to 1 ms). */
export const MAX_TIMEOUT_MS = 2_147_483_647;

/**
 * A timer for any delay, such as an MQTT session expiry of up to 2^32 - 1 seconds: it waits
 * in steps of at most MAX_TIMEOUT_MS on the monotonic clock. Unref'd: it never keeps the
 * process alive.
 */
export class LongTimer {
  private timer: NodeJS.Timeout;
  private readonly due: number;

  constructor(
    private readonly fire: () => void,
    delayMs: number,
  ) {
    this.due = performance.now() + Math.max(0, delayMs);
    this.timer = this.arm();
  }

  private arm(): NodeJS.Timeout {
    const wait = Math.min(Math.max(0, this.due - performance.now()), MAX_TIMEOUT_MS);
    const timer = setTimeout(() => {
      if (this.due - performance.now() > 1) this.timer = this.arm();
      else this.fire();
    }, wait);
    timer.unref();
    return timer;
  }

  clear(): void {
    clearTimeout(this.timer);
  }
}
