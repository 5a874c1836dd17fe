import { PulseClientError } from './errors.js';

/** A publish waiting for a connection. */
export interface QueuedPublish {
  channel: string;
  payload: Uint8Array | string;
  event?: string;
  ack: boolean;
  resolve(): void;
  reject(err: Error): void;
}

/**
 * Publishes made while disconnected with `offline: 'queue'`: at most `max` of them, sent in the
 * order they were made once connected again (before anything published after the reconnect).
 */
export class OfflineQueue {
  private entries: QueuedPublish[] = [];

  constructor(private readonly max: number) {}

  get size(): number {
    return this.entries.length;
  }

  /** Queues `entry`, or rejects it with `queue_full` when `max` are waiting. */
  add(entry: QueuedPublish): void {
    if (this.entries.length >= this.max) {
      entry.reject(
        new PulseClientError('queue_full', `offline queue is full (${this.max} publishes waiting)`),
      );
      return;
    }
    this.entries.push(entry);
  }

  /** Hands every waiting publish to `send`, oldest first, and empties the queue. */
  drain(send: (entry: QueuedPublish) => void): void {
    const entries = this.entries;
    this.entries = [];
    for (const entry of entries) send(entry);
  }

  /** Rejects every waiting publish with `err`. */
  failAll(err: Error): void {
    const entries = this.entries;
    this.entries = [];
    for (const entry of entries) entry.reject(err);
  }
}
