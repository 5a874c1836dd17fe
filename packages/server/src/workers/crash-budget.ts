/** Crashes of one worker within CRASH_WINDOW_MS past which the primary gives up. */
export const MAX_CRASHES = 5;
export const CRASH_WINDOW_MS = 10_000;
/** The first restart waits this long; each further crash in the window doubles it. */
export const FIRST_RESTART_DELAY_MS = 100;

/**
 * The crashes of one worker slot: how long to wait before the restart, or that the crash loop
 * has gone on long enough (MAX_CRASHES within CRASH_WINDOW_MS) and the primary should stop.
 */
export class CrashBudget {
  private crashes: number[] = [];

  /** Records a crash at `now`; the delay before restarting, or undefined when the budget is spent. */
  crashed(now: number): number | undefined {
    this.crashes = this.crashes.filter((t) => now - t < CRASH_WINDOW_MS);
    this.crashes.push(now);
    if (this.crashes.length >= MAX_CRASHES) return undefined;
    return FIRST_RESTART_DELAY_MS * 2 ** (this.crashes.length - 1);
  }
}
