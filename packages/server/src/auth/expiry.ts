/** Longest delay setTimeout takes (longer ones fire at once). */
const MAX_DELAY_MS = 2_147_483_647;

/** Calls `fn` at `atMs` (epoch ms), however far away; `cancel()` stops it. Unref'd. */
export class ExpiryTimer {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly atMs: number,
    private readonly fn: () => void,
  ) {
    this.arm();
  }

  private arm(): void {
    const delay = this.atMs - Date.now();
    if (delay > MAX_DELAY_MS) this.timer = setTimeout(() => this.arm(), MAX_DELAY_MS);
    else this.timer = setTimeout(this.fn, Math.max(0, delay));
    this.timer.unref();
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
