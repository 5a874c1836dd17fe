import { type Broker, Refusal } from '@pulse/core';
import { ErrorCode } from '@pulse/protocol';
import type { Logger } from '../log.js';

/** How often memory is sampled while `limits.memory_limit` is set (ms). */
const SAMPLE_INTERVAL_MS = 100;

/** What counts towards the ceiling: the JS heap in use and Buffers (outside the heap). */
export function memoryInUse(): number {
  const { heapUsed, external } = process.memoryUsage();
  return heapUsed + external;
}

/**
 * A server-wide memory ceiling, like Mosquitto's `memory_limit`: while the memory in use is
 * past `limit`, the broker refuses every publication (kept or not), so that no client can
 * grow the server further; it accepts them again once below. Sampled on a timer, not per
 * message: the hot path tests one field.
 */
export class MemoryCeiling {
  private timer: NodeJS.Timeout | undefined;
  private readonly refusal: Refusal;
  /** True while past the limit. */
  reached = false;

  constructor(
    private readonly broker: Broker,
    readonly limit: number,
    private readonly log: Logger,
  ) {
    this.refusal = new Refusal(
      ErrorCode.RateLimited,
      `server memory limit reached (limits.memory_limit = ${limit})`,
    );
  }

  start(): void {
    if (this.limit === 0 || this.timer) return;
    this.sample();
    this.timer = setInterval(() => this.sample(), SAMPLE_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  sample(): void {
    const used = memoryInUse();
    const over = used > this.limit;
    if (over === this.reached) return;
    this.reached = over;
    this.broker.overload = over ? this.refusal : undefined;
    if (over)
      this.log.warn({ used, limit: this.limit }, 'limits.memory_limit reached: publications are refused');
    else
      this.log.info(
        { used, limit: this.limit },
        'below limits.memory_limit again: publications are accepted',
      );
  }
}
