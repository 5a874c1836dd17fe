/**
 * Backpressure from a slow reader to the publishers feeding it (docs/ARCHITECTURE.md, "The hot
 * path", rule 3). A connection whose outbound bytes pass their budget while the input of
 * another connection is being handled stops reading that connection's socket (the publisher
 * is paused) instead of dropping the publication, and reads it again once its own backlog is
 * down to half the budget. A reader that does not get there within
 * `limits.max_publisher_pause_ms` is stalled: it releases every publisher it holds and the
 * slow-consumer policy applies to it, as without backpressure, until it drains. So a reader
 * merely slower than its publisher loses nothing, and a stalled one holds a channel up once,
 * for a bounded time.
 */

/** A connection whose input can be paused: a publisher. */
export interface PausableInput {
  /** `holder` (a slow reader) wants this input paused; paused while any holder does. */
  holdInput(holder: object): void;
  releaseInput(holder: object): void;
}

/** The connection whose received bytes are being handled right now (set by the transports). */
export const currentInput: { source: PausableInput | undefined } = { source: undefined };

/** What the slow reader's side needs of its connection. */
export interface ReaderRoom {
  /** Bytes waiting to be sent. */
  readonly waiting: number;
  readonly budget: number;
  /** Calls `check` (contained) once there may be room: on 'drain', after this turn's write, or soon. */
  whenRoomMayBe(check: () => void): void;
  /** Runs `fn` as the connection's own callback (an exception closes that connection only). */
  contain(fn: () => void): void;
}

/** Counts for metrics, per transport. */
export interface PauseStats {
  /** Times a publisher was paused by a slow reader. */
  publisherPauses: number;
  /** Slow readers that did not drain within max_publisher_pause_ms. */
  readerStalls: number;
}

/**
 * The publishers one slow reader holds. Made when a reader first passes its budget; it
 * releases them all when the reader has room again or stalls.
 */
export class ReaderBackpressure {
  private readonly held = new Set<PausableInput>();
  private stallTimer: NodeJS.Timeout | undefined;
  private watching = false;
  /** Past max_publisher_pause_ms without room: pauses no one until it has room again. */
  stalled = false;

  constructor(
    private readonly room: ReaderRoom,
    private readonly maxPauseMs: number,
    private readonly stats: PauseStats,
  ) {}

  /**
   * The reader is past its budget: pauses the publisher being handled, if any. False when the
   * publication should be refused (no publisher to pause, or the reader is stalled).
   */
  holdCurrent(): boolean {
    const source = currentInput.source;
    if (source === undefined || this.stalled || this.maxPauseMs === 0) return false;
    if (!this.held.has(source)) {
      this.held.add(source);
      this.stats.publisherPauses++;
      source.holdInput(this);
    }
    this.stallTimer ??= setTimeout(() => this.room.contain(() => this.stall()), this.maxPauseMs);
    this.watch();
    return true;
  }

  /** The reader closed: its publishers read again. */
  dispose(): void {
    clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
    this.releaseAll();
  }

  private watch(): void {
    if (this.watching) return;
    this.watching = true;
    this.room.whenRoomMayBe(() => {
      this.watching = false;
      this.check();
    });
  }

  private check(): void {
    if (this.room.waiting > this.room.budget / 2) {
      if (this.held.size > 0 || this.stalled) this.watch();
      return;
    }
    this.stalled = false;
    clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
    this.releaseAll();
  }

  private stall(): void {
    this.stallTimer = undefined;
    if (this.held.size === 0) return;
    this.stalled = true;
    this.stats.readerStalls++;
    this.releaseAll();
    this.watch();
  }

  private releaseAll(): void {
    const held = [...this.held];
    this.held.clear();
    for (const source of held) source.releaseInput(this);
  }
}
