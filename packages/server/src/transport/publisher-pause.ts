import { PauseAllowance, type PausePolicy } from './pause-allowance.js';

/**
 * Backpressure from a slow reader to the publishers feeding it (docs/ARCHITECTURE.md, "The hot
 * path", rule 3). A connection whose outbound bytes pass their budget while the input of
 * another connection is being handled stops reading that connection's socket (the publisher
 * is paused) instead of dropping the publication, and reads it again once its own backlog is
 * down to half the budget. Both sides spend a pause allowance (pause-allowance.ts): a reader
 * that has spent its own is stalled, releases every publisher it holds and the slow-consumer
 * policy applies to it, as without backpressure, until it drains; a publisher that has spent
 * its own reads again and is not paused until its allowance has filled again. So a reader
 * merely slower than its publisher loses nothing, and no reader, nor any number of them, can
 * hold a channel up for more than `limits.publisher_pause_percent` of the time.
 */

/** A slow reader holding publishers paused. */
export interface InputHolder {
  /** The publisher spent its pause allowance and reads again without asking. */
  inputWithdrawn(source: PausableInput): void;
}

/** A connection whose input can be paused: a publisher. */
export interface PausableInput {
  /**
   * `holder` (a slow reader) wants this input paused; paused while any holder does. False
   * when it is not paused: its allowance is spent, or it is closed.
   */
  holdInput(holder: InputHolder): boolean;
  releaseInput(holder: InputHolder): void;
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
  /** Slow readers that spent their pause allowance before they drained. */
  readerStalls: number;
}

/**
 * The publishers one slow reader holds. Made when a reader first passes its budget; it
 * releases them all when the reader has room again or stalls.
 */
export class ReaderBackpressure implements InputHolder {
  private readonly held = new Set<PausableInput>();
  private readonly allowance: PauseAllowance;
  private stallTimer: NodeJS.Timeout | undefined;
  private watching = false;
  /** Spent its allowance without room: pauses no one until it has room again. */
  stalled = false;

  constructor(
    private readonly room: ReaderRoom,
    policy: PausePolicy,
    private readonly stats: PauseStats,
  ) {
    this.allowance = new PauseAllowance(policy);
  }

  /**
   * The reader is past its budget: pauses the publisher being handled, if any. False when the
   * publication should be refused (no publisher to pause, the reader is stalled, or one of
   * them has spent its allowance).
   */
  holdCurrent(): boolean {
    const source = currentInput.source;
    if (source === undefined || this.stalled) return false;
    if (this.held.has(source)) return true;
    if (this.held.size === 0) {
      const mayLastMs = this.allowance.start();
      if (mayLastMs === 0) return false;
      this.stallTimer = setTimeout(() => this.room.contain(() => this.stall()), mayLastMs);
    }
    if (!source.holdInput(this)) {
      if (this.held.size === 0) this.stopSpending();
      return false;
    }
    this.held.add(source);
    this.stats.publisherPauses++;
    this.watch();
    return true;
  }

  inputWithdrawn(source: PausableInput): void {
    if (this.held.delete(source) && this.held.size === 0) this.stopSpending();
  }

  /** The reader closed: its publishers read again. */
  dispose(): void {
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

  private stopSpending(): void {
    clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
    this.allowance.stop();
  }

  private releaseAll(): void {
    this.stopSpending();
    const held = [...this.held];
    this.held.clear();
    for (const source of held) source.releaseInput(this);
  }
}
