import type { Publication } from '@pulse/core';

export interface Flushable {
  flush(): void;
  /** `flush` threw: report it and close this connection only (Connection.fail). */
  fail(where: 'flush', err: unknown): void;
}

/**
 * Collects connections that have something to send and writes each of them once per
 * event-loop turn: a fan-out of many publications costs one syscall per subscriber, not one
 * per message (docs/ARCHITECTURE.md, "The hot path", rule 2).
 */
export class FlushScheduler {
  private dirty: Flushable[] = [];
  private spare: Flushable[] = [];
  private scheduled = false;
  private readonly published: Publication[] = [];
  /**
   * Runs before any write of a turn: the storage commit, so that no acknowledgement reaches
   * a client before the state it promises is committed (docs/ARCHITECTURE.md, "The hot path", rule 6).
   */
  beforeWrite: () => void = () => {};

  constructor(private readonly onPublicationWritten: (latencyMs: number) => void) {}

  markDirty(connection: Flushable): void {
    this.dirty.push(connection);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushAll);
    }
  }

  /** Records a publication whose publish-to-write latency is observed when this turn's writes are done. */
  notePublication(publication: Publication): void {
    this.published.push(publication);
  }

  readonly flushAll = (): void => {
    this.scheduled = false;
    // Swap lists: connections marked dirty while flushing land in the next turn.
    this.beforeWrite();
    const batch = this.dirty;
    this.dirty = this.spare;
    this.spare = batch;
    for (let i = 0; i < batch.length; i++) {
      try {
        batch[i].flush();
      } catch (err) {
        batch[i].fail('flush', err);
      }
    }
    batch.length = 0;
    if (this.published.length > 0) {
      const now = performance.now();
      for (const p of this.published) this.onPublicationWritten(now - p.receivedAt);
      this.published.length = 0;
    }
  };
}
