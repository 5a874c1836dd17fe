import { performance } from 'node:perf_hooks';
import type { Publication } from '@pulse/core';

export interface Flushable {
  flush(): void;
  /** `flush` threw: report it and close this connection only (Connection.fail). */
  fail(where: 'flush', err: unknown): void;
}

/**
 * Collects connections that have something to send and writes each of them once per batch: a
 * fan-out of many publications costs one syscall per subscriber, not one per message
 * (docs/ARCHITECTURE.md, "The hot path", rule 2).
 *
 * A batch is what the first socket read of an event-loop turn queued, written as soon as that
 * read is handled (a message that travels alone leaves at once, as with Mosquitto), then
 * everything else the turn queues, written at its end (other reads of the same turn, timers,
 * storage and cluster callbacks), so that many publishers to one subscriber in one turn still
 * cost it one more write, not one per publisher.
 */
export class FlushScheduler {
  private dirty: Flushable[] = [];
  private spare: Flushable[] = [];
  /** The end-of-turn flush is scheduled. */
  private scheduled = false;
  /** Socket reads being handled (beginInput/endInput): their writes wait for endInput. */
  private inputDepth = 0;
  /** This turn has already written at the end of a read: later writes wait for the turn's end. */
  private wroteThisTurn = false;
  private readonly published: Publication[] = [];
  /**
   * Runs before any write of a batch: the storage commit, so that no acknowledgement reaches
   * a client before the state it promises is committed (docs/ARCHITECTURE.md, "The hot path", rule 6).
   */
  beforeWrite: () => void = () => {};

  constructor(private readonly onPublicationWritten: (latencyMs: number) => void) {}

  markDirty(connection: Flushable): void {
    this.dirty.push(connection);
    // During the turn's first read, endInput writes it, and only then schedules the turn's end:
    // a message that travels alone does not wait for setImmediate.
    if (this.scheduled || (this.inputDepth > 0 && !this.wroteThisTurn)) return;
    this.scheduleTurnEnd();
  }

  /** A socket read is about to be handled: what it queues is written when it has been (endInput). */
  beginInput(): void {
    this.inputDepth++;
  }

  /** The read begun by beginInput has been handled: the first of a turn writes what it queued now. */
  endInput(): void {
    if (--this.inputDepth > 0 || this.wroteThisTurn || this.dirty.length === 0) return;
    this.wroteThisTurn = true;
    this.writeDirty();
    if (!this.scheduled) this.scheduleTurnEnd();
  }

  /** Records a publication whose publish-to-write latency is observed when its batch is written. */
  notePublication(publication: Publication): void {
    this.published.push(publication);
  }

  /** Writes everything queued; the turn's end (setImmediate), and shutdown. */
  readonly flushAll = (): void => {
    this.scheduled = false;
    this.wroteThisTurn = false;
    this.writeDirty();
  };

  private scheduleTurnEnd(): void {
    this.scheduled = true;
    setImmediate(this.flushAll);
  }

  private writeDirty(): void {
    if (this.dirty.length === 0) return;
    this.beforeWrite();
    // Swap lists: connections marked dirty while flushing land in the next batch.
    const batch = this.dirty;
    this.dirty = this.spare;
    this.spare = batch;
    // Length read every time: a flush that marked a connection again would not lose it.
    for (let i = 0; i < batch.length; i++) {
      const connection = batch[i] as Flushable;
      try {
        connection.flush();
      } catch (err) {
        connection.fail('flush', err);
      }
    }
    emptyArray(batch);
    const published = this.published;
    if (published.length > 0) {
      const now = performance.now();
      for (const p of published) this.onPublicationWritten(now - p.receivedAt);
      emptyArray(published);
    }
  }
}

/** `array.length = 0` without its cost: setting `length` is a call into V8's runtime, `pop` is not. */
function emptyArray(array: unknown[]): void {
  while (array.length > 0) array.pop();
}
