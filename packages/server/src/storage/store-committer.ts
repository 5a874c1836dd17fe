import type { Store } from '@pulse/core';
import type { Logger } from '../log.js';
import type { FlushScheduler } from '../transport/flush-scheduler.js';

export interface CommitStats {
  commits: number;
  errors: number;
  /** Seconds spent in commits, for the histogram. */
  observe(seconds: number): void;
}

/** How often writes that no socket write carried are committed (strict, balanced). */
const IDLE_COMMIT_MS = 10;

/**
 * When the store commits. `strict` and `balanced`: once per write batch, just before its socket
 * writes (group commit: every acknowledgement of the batch waits for one commit; a turn has at
 * most two batches, FlushScheduler),
 * and within 10 ms for writes no socket write follows. `fast`: every `flushIntervalMs`,
 * acknowledgements go out at once (a crash loses at most that interval).
 */
export class StoreCommitter {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: Store,
    private readonly scheduler: FlushScheduler,
    private readonly flushIntervalMs: number,
    private readonly stats: CommitStats,
    private readonly log: Logger,
    /** A commit failed: nothing of its batch may be acknowledged (the server stops). */
    private readonly onFailure: (err: Error) => void,
  ) {}

  /** strict and balanced: acknowledgements wait for the commit; fast and none: they do not. */
  private get acksWaitForCommit(): boolean {
    return this.store.commitPolicy === 'strict' || this.store.commitPolicy === 'balanced';
  }

  start(): void {
    if (this.store.commitPolicy === 'none') return; // the memory engine: nothing to commit
    if (this.acksWaitForCommit) this.scheduler.beforeWrite = this.commit;
    this.timer = setInterval(this.commit, this.acksWaitForCommit ? IDLE_COMMIT_MS : this.flushIntervalMs);
    this.timer.unref();
  }

  /** Before an acknowledgement that is not a socket write (an HTTP answer). */
  readonly beforeAcknowledgement = (): void => {
    if (this.acksWaitForCommit) this.commit();
  };

  stop(): void {
    clearInterval(this.timer);
    this.scheduler.beforeWrite = () => {};
    this.commit();
  }

  readonly commit = (): void => {
    if (!this.store.dirty) return;
    const started = performance.now();
    try {
      this.store.commit();
      this.stats.commits++;
    } catch (err) {
      // The batch's writes are not durable, and its acknowledgements are still unsent: the
      // server must not send them (fail-stop). Clients resend what was not acknowledged.
      this.stats.errors++;
      this.log.fatal({ err }, 'storage commit failed');
      this.onFailure(err as Error);
    }
    this.stats.observe((performance.now() - started) / 1000);
  };
}
