import type { PausePolicy } from '../transport/pause-allowance.js';
import { type PauseStats, ReaderBackpressure } from '../transport/publisher-pause.js';

/** What a session's queue looks like to its backpressure. */
export interface QueueLevel {
  readonly length: number;
  readonly bytes: number;
  readonly maxLength: number;
  /** 0 = no byte limit. */
  readonly maxBytes: number;
}

/**
 * What a queue takes past its limits while it holds the publisher being handled paused: the
 * rest of that publisher's read, at most 64 KiB of input, so at most 16,384 PUBLISH packets
 * (4 bytes at the least) and their bytes with room for properties.
 */
export const ABSORBED_MESSAGES = 16_384;
export const ABSORBED_BYTES = 128 * 1024;

/** Fullness on a scale where 1,000 is a full queue. */
const FULL = 1000;

function fullness({ length, bytes, maxLength, maxBytes }: QueueLevel): number {
  const byCount = maxLength > 0 ? (length * FULL) / maxLength : 0;
  const byBytes = maxBytes > 0 ? (bytes * FULL) / maxBytes : 0;
  return Math.max(byCount, byBytes);
}

/** Half full or more: where a queue starts to pause its publisher. */
export const isHalfFull = (level: QueueLevel): boolean => fullness(level) >= FULL / 2;

/**
 * Backpressure from an MQTT session's queue (QoS 1/2 waiting for the client's receive window
 * or the socket) to the publisher feeding it (transport/publisher-pause.ts): a queue half full
 * while its client is connected pauses the publisher being handled, and lets it read again at
 * a quarter, so that a subscriber merely slower than its publisher does not lose the oldest
 * queued messages to `mqtt.max_queued_messages`. Once the pause allowance is spent without
 * getting there, the queue's own limits apply as without backpressure.
 */
export class QueuePressure {
  private readonly backpressure: ReaderBackpressure;
  private onRoom: (() => void) | undefined;

  constructor(
    private readonly level: QueueLevel,
    pausePolicy: PausePolicy,
    stats: PauseStats,
    contain: (fn: () => void) => void,
  ) {
    const self = this;
    this.backpressure = new ReaderBackpressure(
      {
        get waiting() {
          return fullness(self.level);
        },
        budget: FULL / 2,
        whenRoomMayBe: (check) => {
          this.onRoom = check;
        },
        contain,
      },
      pausePolicy,
      stats,
    );
  }

  /**
   * A message is about to be queued while the client is connected: past half full, the
   * publisher being handled is paused. True while it is: the queue then takes the message
   * even past its limits (ABSORBED_*).
   */
  absorbs(): boolean {
    return isHalfFull(this.level) && this.backpressure.holdCurrent();
  }

  /** Messages left the queue. */
  drained(): void {
    const check = this.onRoom;
    if (check === undefined) return;
    this.onRoom = undefined;
    check();
  }

  /**
   * The client went away: nothing it could read will come soon, so its publishers read again.
   * A look at the queue it was waiting for stays due: the first pump after the client is back
   * makes it (without it the backpressure would wait for a call that never comes, and every
   * later pause would last the whole allowance, then stall for good).
   */
  detached(): void {
    this.backpressure.dispose();
  }
}
