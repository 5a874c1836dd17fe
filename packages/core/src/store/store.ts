import type {
  HistoryRecord,
  InflightRecord,
  QueuedRecord,
  SessionRecord,
  StoredMessage,
  StoredState,
  StreamRecord,
  WillRecord,
} from './records.js';

export type CommitPolicy = 'strict' | 'balanced' | 'fast';

/** A store's commit policy; `none` for an engine that keeps nothing past the process (memory). */
export type StoreCommitPolicy = CommitPolicy | 'none';

/**
 * Durable state of the server. The running server keeps its state in memory and tells the
 * store every change; the store replays it all at start-up (`load`).
 *
 * Writes are buffered and applied together by `commit()`, in one transaction: the server
 * commits once per event-loop turn, before it writes to any socket, so an acknowledgement
 * never reaches a client before the state it promises is committed (docs/ARCHITECTURE.md, "The hot path", rule 6).
 * Engines: `MemoryStore` (state lives as long as the process) and the SQLite engine.
 */
export interface Store {
  readonly engine: string;
  /**
   * How commits are made durable (strict: fsync, balanced: process crashes, fast: an interval;
   * none: nothing outlives the process, so there is nothing to make durable).
   */
  readonly commitPolicy: StoreCommitPolicy;
  /**
   * True when the store was not closed cleanly the last time it was open (the process crashed
   * or was killed): under `fast`, acknowledged writes of the last interval may be lost.
   * Always false for a store that does not outlive its process.
   */
  readonly recoveredFromCrash: boolean;

  /** Everything stored, for start-up. Drops what expired before `nowMs`. */
  load(nowMs: number): StoredState;

  putSession(record: SessionRecord): void;
  /** Deletes the session with its inflight messages, queue and QoS 2 state. */
  deleteSession(clientId: string): void;
  putInflight(clientId: string, record: InflightRecord): void;
  deleteInflight(clientId: string, packetId: number): void;
  putQueued(clientId: string, record: QueuedRecord): void;
  deleteQueued(clientId: string, seq: number): void;
  putIncomingQos2(clientId: string, packetId: number): void;
  deleteIncomingQos2(clientId: string, packetId: number): void;

  /** The channel's retained message (replaces the previous one). */
  putRetained(message: StoredMessage): void;
  deleteRetained(channel: string): void;

  putWill(record: WillRecord): void;
  deleteWill(clientId: string): void;

  /** The channel's stream position (replaces the previous one). */
  putStream(record: StreamRecord): void;
  /** Deletes the channel's stream position and all its history entries. */
  deleteStream(channel: string): void;
  appendHistory(record: HistoryRecord): void;
  /** Deletes a channel's history below `fromOffset` (all of it when `fromOffset` is Infinity). */
  trimHistory(channel: string, fromOffset: number): void;

  /**
   * Deletes expired retained and queued messages and history entries, and, unless `sessions`
   * is false, expired sessions with their state (by their stored `expiresAt`). A running
   * server passes false: its sessions expire on their own timers, which delete them, and a
   * wall-clock purge could delete a session that is still alive in memory.
   */
  purge(nowMs: number, sessions?: boolean): void;

  /** True when writes wait for `commit()`. */
  readonly dirty: boolean;
  /** Applies buffered writes in one transaction, durable as the commit policy says. */
  commit(): void;
  /** Bytes the store takes (file size for SQLite; an estimate for memory). */
  sizeBytes(): number;
  /** Commits what is buffered and releases the store. */
  close(): void;
}
