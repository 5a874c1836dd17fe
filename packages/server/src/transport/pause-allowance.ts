/**
 * How long one side of a publisher pause may keep it up: a bucket of pause time, full at
 * `limits.max_publisher_pause_ms`, that fills again at `limits.publisher_pause_percent` of the
 * time that passes while it is not in use. A slow reader and a paused publisher each have one,
 * so that a subscriber which stops and starts reading, or many of them taking turns, can hold
 * a channel up for that share of the time at most (docs/SECURITY.md, "Publisher pauses"). A
 * publisher's bucket holds twice a reader's, so that after one reader spent its own on it, a
 * healthy slower reader of the same publisher can still pause it.
 */
export interface PausePolicy {
  /** 0 = publishers are never paused. */
  readonly maxPauseMs: number;
  readonly percent: number;
}

/** The policy from the `limits` section of the configuration. */
export function publisherPausePolicy(limits: {
  max_publisher_pause_ms: number;
  publisher_pause_percent: number;
}): PausePolicy {
  return { maxPauseMs: limits.max_publisher_pause_ms, percent: limits.publisher_pause_percent };
}

/** Less than this left is not worth a pause (and its timer). */
const MIN_PAUSE_MS = 5;

export class PauseAllowance {
  private leftMs: number;
  private stamp: number;
  private since: number | undefined;

  private readonly capacityMs: number;

  /** `scale` times max_publisher_pause_ms when full. */
  constructor(
    private readonly policy: PausePolicy,
    scale = 1,
  ) {
    this.capacityMs = policy.maxPauseMs * scale;
    this.leftMs = this.capacityMs;
    this.stamp = Date.now();
  }

  /** Starts a pause: the milliseconds it may last, or 0 when the allowance is spent. */
  start(): number {
    if (this.since !== undefined) return 0;
    const now = Date.now();
    this.leftMs = Math.min(this.capacityMs, this.leftMs + ((now - this.stamp) * this.policy.percent) / 100);
    this.stamp = now;
    if (this.leftMs < MIN_PAUSE_MS) return 0;
    this.since = now;
    return this.leftMs;
  }

  /** The pause ended: its time, returned in milliseconds, is spent. */
  stop(): number {
    if (this.since === undefined) return 0;
    const now = Date.now();
    const spentMs = now - this.since;
    this.leftMs = Math.max(0, this.leftMs - spentMs);
    this.stamp = now;
    this.since = undefined;
    return spentMs;
  }
}
