import { statSync } from 'node:fs';
import type {
  CommitPolicy,
  HistoryRecord,
  InflightRecord,
  QueuedRecord,
  SessionRecord,
  Store,
  StoredMessage,
  StoredState,
  StreamRecord,
  WillRecord,
} from '@pulse/core';
import type Database from 'better-sqlite3';
import { loadState } from './sqlite-load.js';
import { openDatabase } from './sqlite-open.js';
import {
  APPEND_HISTORY,
  applyOps,
  type OpsState,
  reread,
  DELETE_INFLIGHT,
  DELETE_QOS2,
  DELETE_QUEUED,
  DELETE_RETAINED,
  DELETE_SESSION,
  DELETE_STREAM,
  DELETE_WILL,
  PURGE,
  PUT_INFLIGHT,
  PUT_QOS2,
  PUT_QUEUED,
  PUT_RETAINED,
  PUT_SESSION,
  PUT_STREAM,
  PUT_WILL,
  TRIM_HISTORY,
} from './sqlite-ops.js';
import { SQL, type Statements } from './sqlite-schema.js';

export { StoreOpenError } from './sqlite-open.js';

/**
 * The SQLite engine: better-sqlite3 in WAL mode, holding an exclusive lock on the file while
 * open. Every write joins a pending list; `commit()` applies the list in order in one
 * transaction. See docs/ARCHITECTURE.md, "Storage engines".
 */
export class SqliteStore implements Store {
  readonly engine = 'sqlite';
  /** `PRAGMA synchronous` in effect: 2 (FULL) for strict, 1 (NORMAL) for balanced and fast. */
  readonly synchronous: number;
  /**
   * True when the last process that had the file open did not close it (`pulse_meta.state`
   * was still 'open'): it crashed or was killed.
   */
  readonly recoveredFromCrash: boolean;
  private readonly pending: unknown[] = [];
  private readonly st: Statements;
  private readonly applyPending: () => void;
  private readonly pageSize: number;
  private readonly ops: OpsState;
  private closed = false;

  /** Opens or creates the store at `path`; throws `StoreOpenError` with a one-line cause. */
  static open(path: string, policy: CommitPolicy): SqliteStore {
    const db = openDatabase(path, policy);
    try {
      return new SqliteStore(db, path, policy);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  private constructor(
    private readonly db: Database.Database,
    readonly path: string,
    readonly commitPolicy: CommitPolicy,
  ) {
    const st: Record<string, Database.Statement> = {};
    for (const [name, sql] of Object.entries(SQL)) st[name] = db.prepare(sql);
    this.st = st as Statements;
    this.st.historyChannels.pluck(true);
    this.st.firstLiveHistory.pluck(true);
    this.st.sessionIds.pluck(true);
    this.applyPending = db.transaction(() => applyOps(this.st, this.pending, this.ops));
    this.synchronous = db.pragma('synchronous', { simple: true }) as number;
    this.pageSize = db.pragma('page_size', { simple: true }) as number;
    this.ops = { sessions: new Set(), inflight: new Map() };
    reread(this.st, this.ops);
    this.st.getMeta.pluck(true);
    // A file that was never closed cleanly says 'open'; a new file, or one of a build that
    // did not keep this marker, has no state: not a crash.
    this.recoveredFromCrash = this.st.getMeta.get('state') === 'open';
    // Committed at once (autocommit), before anything else happens.
    this.st.putMeta.run('state', 'open');
  }

  get dirty(): boolean {
    return this.pending.length > 0;
  }

  load(nowMs: number): StoredState {
    this.purge(nowMs);
    this.commit();
    return loadState(this.st);
  }

  putSession(record: SessionRecord): void {
    this.pending.push(PUT_SESSION, record, undefined);
  }
  deleteSession(clientId: string): void {
    this.pending.push(DELETE_SESSION, clientId, undefined);
  }
  putInflight(clientId: string, record: InflightRecord): void {
    this.pending.push(PUT_INFLIGHT, clientId, record);
  }
  deleteInflight(clientId: string, packetId: number): void {
    this.pending.push(DELETE_INFLIGHT, clientId, packetId);
  }
  putQueued(clientId: string, record: QueuedRecord): void {
    this.pending.push(PUT_QUEUED, clientId, record);
  }
  deleteQueued(clientId: string, seq: number): void {
    this.pending.push(DELETE_QUEUED, clientId, seq);
  }
  putIncomingQos2(clientId: string, packetId: number): void {
    this.pending.push(PUT_QOS2, clientId, packetId);
  }
  deleteIncomingQos2(clientId: string, packetId: number): void {
    this.pending.push(DELETE_QOS2, clientId, packetId);
  }
  putRetained(message: StoredMessage): void {
    this.pending.push(PUT_RETAINED, message, undefined);
  }
  deleteRetained(channel: string): void {
    this.pending.push(DELETE_RETAINED, channel, undefined);
  }
  putWill(record: WillRecord): void {
    this.pending.push(PUT_WILL, record, undefined);
  }
  deleteWill(clientId: string): void {
    this.pending.push(DELETE_WILL, clientId, undefined);
  }
  putStream(record: StreamRecord): void {
    this.pending.push(PUT_STREAM, record, undefined);
  }
  deleteStream(channel: string): void {
    this.pending.push(DELETE_STREAM, channel, undefined);
  }
  appendHistory(record: HistoryRecord): void {
    this.pending.push(APPEND_HISTORY, record, undefined);
  }
  trimHistory(channel: string, fromOffset: number): void {
    this.pending.push(TRIM_HISTORY, channel, fromOffset);
  }
  purge(nowMs: number, sessions = true): void {
    this.pending.push(PURGE, nowMs, sessions);
  }

  /**
   * Applies the pending writes in order, in one transaction. If it fails, nothing was applied
   * and the writes stay pending for the next commit.
   */
  commit(): void {
    if (this.pending.length === 0) return;
    if (this.closed) throw new Error(`storage: ${JSON.stringify(this.path)} is closed`);
    try {
      this.applyPending();
    } catch (err) {
      // Rolled back: the indexes the failed operations touched are read again.
      reread(this.st, this.ops);
      throw err;
    }
    this.pending.length = 0;
  }

  sizeBytes(): number {
    if (this.closed) return statSync(this.path, { throwIfNoEntry: false })?.size ?? 0;
    const wal = statSync(`${this.path}-wal`, { throwIfNoEntry: false })?.size ?? 0;
    return (this.db.pragma('page_count', { simple: true }) as number) * this.pageSize + wal;
  }

  close(): void {
    if (this.closed) return;
    try {
      this.commit();
      // Only when everything pending is committed: a failed close counts as a crash.
      this.st.putMeta.run('state', 'clean');
    } finally {
      this.closed = true;
      // The last connection to close checkpoints the WAL into the database and deletes it.
      this.db.close();
    }
  }
}
