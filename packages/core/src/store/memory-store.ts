import type {
  HistoryRecord,
  InflightRecord,
  LoadedSession,
  QueuedRecord,
  SessionRecord,
  StoredMessage,
  StoredState,
  StreamRecord,
  WillRecord,
} from './records.js';
import type { Store } from './store.js';

interface SessionState {
  session: SessionRecord;
  inflight: Map<number, InflightRecord>;
  queue: Map<number, QueuedRecord>;
  incomingQos2: Set<number>;
}

const expired = (expiresAt: number | undefined, nowMs: number): boolean =>
  expiresAt !== undefined && expiresAt <= nowMs;

/**
 * The default engine: state that lives as long as the process. A server stopped and started
 * again in the same process with the same `MemoryStore` resumes its sessions, retained
 * messages and history; a restarted process starts empty (new history epochs).
 */
export class MemoryStore implements Store {
  readonly engine = 'memory';
  /** storage.commit_policy does not apply: every write is done when made and ends with the process. */
  readonly commitPolicy = 'none';
  /** Its state ends with the process: there is never a crash to recover from. */
  readonly recoveredFromCrash = false;
  readonly dirty = false;
  private readonly sessions = new Map<string, SessionState>();
  private readonly retained = new Map<string, StoredMessage>();
  private readonly wills = new Map<string, WillRecord>();
  private readonly streams = new Map<string, StreamRecord>();
  private readonly history = new Map<string, HistoryRecord[]>();

  load(nowMs: number): StoredState {
    this.purge(nowMs);
    const sessions: LoadedSession[] = [];
    for (const s of this.sessions.values()) {
      sessions.push({
        session: s.session,
        inflight: [...s.inflight.values()],
        queue: [...s.queue.values()].sort((a, b) => a.seq - b.seq),
        incomingQos2: [...s.incomingQos2],
      });
    }
    return {
      sessions,
      retained: [...this.retained.values()],
      wills: [...this.wills.values()],
      streams: [...this.streams.values()],
      history: [...this.history.values()].flat(),
    };
  }

  putSession(record: SessionRecord): void {
    const known = this.sessions.get(record.clientId);
    if (known) known.session = record;
    else {
      this.sessions.set(record.clientId, {
        session: record,
        inflight: new Map(),
        queue: new Map(),
        incomingQos2: new Set(),
      });
    }
  }

  deleteSession(clientId: string): void {
    this.sessions.delete(clientId);
  }

  putInflight(clientId: string, record: InflightRecord): void {
    this.sessions.get(clientId)?.inflight.set(record.packetId, record);
  }

  deleteInflight(clientId: string, packetId: number): void {
    this.sessions.get(clientId)?.inflight.delete(packetId);
  }

  putQueued(clientId: string, record: QueuedRecord): void {
    this.sessions.get(clientId)?.queue.set(record.seq, record);
  }

  deleteQueued(clientId: string, seq: number): void {
    this.sessions.get(clientId)?.queue.delete(seq);
  }

  putIncomingQos2(clientId: string, packetId: number): void {
    this.sessions.get(clientId)?.incomingQos2.add(packetId);
  }

  deleteIncomingQos2(clientId: string, packetId: number): void {
    this.sessions.get(clientId)?.incomingQos2.delete(packetId);
  }

  putRetained(message: StoredMessage): void {
    this.retained.set(message.channel, message);
  }

  deleteRetained(channel: string): void {
    this.retained.delete(channel);
  }

  putWill(record: WillRecord): void {
    this.wills.set(record.clientId, record);
  }

  deleteWill(clientId: string): void {
    this.wills.delete(clientId);
  }

  putStream(record: StreamRecord): void {
    this.streams.set(record.channel, record);
  }

  deleteStream(channel: string): void {
    this.streams.delete(channel);
    this.history.delete(channel);
  }

  appendHistory(record: HistoryRecord): void {
    const entries = this.history.get(record.channel);
    if (entries) entries.push(record);
    else this.history.set(record.channel, [record]);
  }

  trimHistory(channel: string, fromOffset: number): void {
    const entries = this.history.get(channel);
    if (!entries) return;
    const kept = entries.findIndex((e) => e.offset >= fromOffset);
    const drop = kept === -1 ? entries.length : kept;
    if (drop === entries.length) this.history.delete(channel);
    else if (drop > 0) entries.splice(0, drop);
  }

  purge(nowMs: number, sessions = true): void {
    for (const [clientId, s] of this.sessions) {
      if (sessions && expired(s.session.expiresAt, nowMs)) {
        this.sessions.delete(clientId);
        continue;
      }
      for (const [seq, q] of s.queue) if (expired(q.message.expiresAt, nowMs)) s.queue.delete(seq);
    }
    for (const [channel, m] of this.retained) if (expired(m.expiresAt, nowMs)) this.retained.delete(channel);
    for (const [channel, entries] of this.history) {
      const firstLive = entries.find((e) => !expired(e.expiresAt, nowMs));
      if (firstLive !== entries[0]) this.trimHistory(channel, firstLive?.offset ?? Infinity);
    }
  }

  commit(): void {}

  sizeBytes(): number {
    let bytes = 0;
    for (const s of this.sessions.values()) {
      for (const r of s.inflight.values()) bytes += r.message.payload.length;
      for (const r of s.queue.values()) bytes += r.message.payload.length;
    }
    for (const m of this.retained.values()) bytes += m.payload.length;
    for (const entries of this.history.values()) for (const e of entries) bytes += e.message.payload.length;
    return bytes;
  }

  close(): void {}
}
