import type {
  HistoryRecord,
  InflightRecord,
  QueuedRecord,
  SessionRecord,
  StoredMessage,
  StreamRecord,
  WillRecord,
} from '@pulse/core';
import { packHistoryMeta, packIds, packMeta, packSubscriptions } from './message-codec.js';
import type { Statements } from './sqlite-schema.js';

// The pending list is a flat array of (operation, a, b) triples: no object or closure per write.
export const PUT_SESSION = 0;
export const DELETE_SESSION = 1;
export const PUT_INFLIGHT = 2;
export const DELETE_INFLIGHT = 3;
export const PUT_QUEUED = 4;
export const DELETE_QUEUED = 5;
export const PUT_QOS2 = 6;
export const DELETE_QOS2 = 7;
export const PUT_RETAINED = 8;
export const DELETE_RETAINED = 9;
export const PUT_WILL = 10;
export const DELETE_WILL = 11;
export const PUT_STREAM = 12;
export const APPEND_HISTORY = 13;
export const TRIM_HISTORY = 14;
export const PURGE = 15;
export const DELETE_STREAM = 16;

/** What applying operations keeps between commits. */
export interface OpsState {
  /** The `seq` (rowid) of every inflight row, by client id and packet id. */
  inflight: Map<string, Map<number, number>>;
  /**
   * The stored sessions' client ids: QoS state of a session that is not stored is ignored
   * (checked here rather than by a subquery in every insert).
   */
  sessions: Set<string>;
}

/**
 * Runs the pending operations in order (the caller wraps this in a transaction). Messages are
 * encoded here, right before they are bound.
 */
export function applyOps(st: Statements, p: unknown[], state: OpsState): void {
  for (let i = 0; i < p.length; i += 3) {
    switch (p[i] as number) {
      case PUT_SESSION: {
        const r = p[i + 1] as SessionRecord;
        state.sessions.add(r.clientId);
        st.putSession.run(
          r.clientId,
          r.expiryInterval,
          packSubscriptions(r.subscriptions),
          r.expiresAt ?? null,
          r.user ?? null,
        );
        break;
      }
      case DELETE_SESSION: {
        const clientId = p[i + 1] as string;
        state.sessions.delete(clientId);
        for (const seq of state.inflight.get(clientId)?.values() ?? []) st.deleteInflight.run(seq);
        state.inflight.delete(clientId);
        st.deleteSessionQueued.run(clientId);
        st.deleteSessionQos2.run(clientId);
        st.deleteSession.run(clientId);
        break;
      }
      case PUT_INFLIGHT: {
        const clientId = p[i + 1] as string;
        const r = p[i + 2] as InflightRecord;
        if (!state.sessions.has(clientId)) break;
        let rows = state.inflight.get(clientId);
        const known = rows?.get(r.packetId);
        if (known !== undefined && r.state === 'pubrel') {
          st.setInflightState.run(r.state, known);
          break;
        }
        const m = r.message;
        const ids = packIds(r.subscriptionIds);
        const retain = r.retain ? 1 : 0;
        const expiresAt = m.expiresAt ?? null;
        if (known !== undefined) {
          st.replaceInflight.run(
            r.state,
            r.qos,
            retain,
            ids,
            m.channel,
            m.payload,
            expiresAt,
            packMeta(m),
            known,
          );
          break;
        }
        const { lastInsertRowid } = st.putInflight.run(
          clientId,
          r.packetId,
          r.state,
          r.qos,
          retain,
          ids,
          m.channel,
          m.payload,
          expiresAt,
          packMeta(m),
        );
        if (rows === undefined) {
          rows = new Map();
          state.inflight.set(clientId, rows);
        }
        rows.set(r.packetId, Number(lastInsertRowid));
        break;
      }
      case DELETE_INFLIGHT: {
        const rows = state.inflight.get(p[i + 1] as string);
        const seq = rows?.get(p[i + 2] as number);
        if (seq === undefined) break;
        rows?.delete(p[i + 2] as number);
        st.deleteInflight.run(seq);
        break;
      }
      case PUT_QUEUED: {
        const clientId = p[i + 1] as string;
        const r = p[i + 2] as QueuedRecord;
        if (!state.sessions.has(clientId)) break;
        const m = r.message;
        st.putQueued.run(
          clientId,
          r.seq,
          r.qos,
          r.retain ? 1 : 0,
          packIds(r.subscriptionIds),
          m.channel,
          m.payload,
          m.expiresAt ?? null,
          packMeta(m),
        );
        break;
      }
      case DELETE_QUEUED:
        st.deleteQueued.run(p[i + 1], p[i + 2]);
        break;
      case PUT_QOS2:
        if (state.sessions.has(p[i + 1] as string)) st.putQos2.run(p[i + 1], p[i + 2]);
        break;
      case DELETE_QOS2:
        st.deleteQos2.run(p[i + 1], p[i + 2]);
        break;
      case PUT_RETAINED: {
        const m = p[i + 1] as StoredMessage;
        st.putRetained.run(m.channel, m.payload, m.expiresAt ?? null, packMeta(m));
        break;
      }
      case DELETE_RETAINED:
        st.deleteRetained.run(p[i + 1]);
        break;
      case PUT_WILL: {
        const r = p[i + 1] as WillRecord;
        const m = r.message;
        st.putWill.run(
          r.clientId,
          r.publishAt,
          r.expirySeconds ?? null,
          m.channel,
          m.payload,
          m.expiresAt ?? null,
          packMeta(m),
        );
        break;
      }
      case DELETE_WILL:
        st.deleteWill.run(p[i + 1]);
        break;
      case PUT_STREAM: {
        const r = p[i + 1] as StreamRecord;
        st.putStream.run(r.channel, r.epoch, r.offset, r.updatedAt ?? null);
        break;
      }
      case DELETE_STREAM:
        st.deleteStream.run(p[i + 1]);
        st.dropHistory.run(p[i + 1]);
        break;
      case APPEND_HISTORY: {
        const r = p[i + 1] as HistoryRecord;
        const m = r.message;
        st.appendHistory.run(
          r.channel,
          r.offset,
          r.time,
          r.expiresAt ?? null,
          m.payload,
          packHistoryMeta(r.channel, m),
        );
        break;
      }
      case TRIM_HISTORY: {
        const fromOffset = p[i + 2] as number;
        if (fromOffset === Infinity) st.dropHistory.run(p[i + 1]);
        else st.trimHistory.run(p[i + 1], fromOffset);
        break;
      }
      case PURGE: {
        const sessions = p[i + 2] as boolean;
        purge(st, p[i + 1] as number, sessions);
        // Only purged sessions change the indexes.
        if (sessions) reread(st, state);
        break;
      }
    }
  }
}

/** The in-memory indexes, read again from the tables (after a purge or a rollback). */
export function reread(st: Statements, state: OpsState): void {
  state.sessions = new Set(st.sessionIds.all() as string[]);
  state.inflight = new Map();
  for (const row of st.inflightSeqs.all() as { seq: number; client_id: string; packet_id: number }[]) {
    let rows = state.inflight.get(row.client_id);
    if (rows === undefined) {
      rows = new Map();
      state.inflight.set(row.client_id, rows);
    }
    rows.set(row.packet_id, row.seq);
  }
}

/** Expired sessions (with their QoS state) if `sessions`, queued and retained messages, and history entries. */
function purge(st: Statements, nowMs: number, sessions: boolean): void {
  if (sessions) {
    st.purgeInflight.run(nowMs);
    st.purgeSessionQueued.run(nowMs);
    st.purgeQos2.run(nowMs);
    st.purgeSessions.run(nowMs);
  }
  st.purgeQueued.run(nowMs);
  st.purgeRetained.run(nowMs);
  // History leaves from the front only, up to its oldest live entry (as in MemoryStore).
  for (const channel of st.historyChannels.all() as string[]) {
    const firstLive = st.firstLiveHistory.get(channel, nowMs) as number | undefined;
    if (firstLive === undefined) st.dropHistory.run(channel);
    else st.trimHistory.run(channel, firstLive);
  }
}
