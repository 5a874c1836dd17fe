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
} from '@pulse/core';
import { messageOf, unpackIds, unpackSubscriptions } from './message-codec.js';
import type { Statements } from './sqlite-schema.js';

interface MessageRow {
  channel: string;
  payload: Buffer;
  expires_at: number | null;
  meta: Buffer;
}
interface DeliveryRow extends MessageRow {
  client_id: string;
  qos: 0 | 1 | 2;
  retain: number;
  subscription_ids: Buffer | null;
}
interface InflightRow extends DeliveryRow {
  packet_id: number;
  state: 'publish' | 'pubrel';
}
interface QueuedRow extends DeliveryRow {
  seq: number;
}
interface SessionRow {
  client_id: string;
  expiry_interval: number;
  subscriptions: Buffer;
  expires_at: number | null;
  user: string | null;
}
interface WillRow extends MessageRow {
  client_id: string;
  publish_at: number;
  expiry_seconds: number | null;
}
interface StreamRow {
  channel: string;
  epoch: string;
  offset: number;
  updated_at: number | null;
}
interface HistoryRow extends MessageRow {
  offset: number;
  time: number;
}

/** Everything in the store: queues in seq order, inflight in first-sent order, history by (channel, offset). */
export function loadState(st: Statements): StoredState {
  const sessions = new Map<string, LoadedSession>();
  for (const row of st.loadSessions.all() as SessionRow[]) {
    const session: SessionRecord = {
      clientId: row.client_id,
      expiryInterval: row.expiry_interval,
      subscriptions: unpackSubscriptions(row.subscriptions),
    };
    if (row.expires_at !== null) session.expiresAt = row.expires_at;
    if (row.user !== null) session.user = row.user;
    sessions.set(row.client_id, { session, inflight: [], queue: [], incomingQos2: [] });
  }
  for (const row of st.loadInflight.all() as InflightRow[]) {
    const record = delivery(row) as InflightRecord;
    record.packetId = row.packet_id;
    record.state = row.state;
    sessions.get(row.client_id)?.inflight.push(record);
  }
  for (const row of st.loadQueued.all() as QueuedRow[]) {
    const record = delivery(row) as QueuedRecord;
    record.seq = row.seq;
    sessions.get(row.client_id)?.queue.push(record);
  }
  for (const row of st.loadQos2.all() as { client_id: string; packet_id: number }[]) {
    sessions.get(row.client_id)?.incomingQos2.push(row.packet_id);
  }
  const retained = (st.loadRetained.all() as MessageRow[]).map(message);
  const wills = (st.loadWills.all() as WillRow[]).map((row) => {
    const will: WillRecord = { clientId: row.client_id, message: message(row), publishAt: row.publish_at };
    if (row.expiry_seconds !== null) will.expirySeconds = row.expiry_seconds;
    return will;
  });
  const streams = (st.loadStreams.all() as StreamRow[]).map((row) => {
    const stream: StreamRecord = { channel: row.channel, epoch: row.epoch, offset: row.offset };
    if (row.updated_at !== null) stream.updatedAt = row.updated_at;
    return stream;
  });
  const history = (st.loadHistory.all() as HistoryRow[]).map((row) => {
    const entry: HistoryRecord = {
      channel: row.channel,
      offset: row.offset,
      time: row.time,
      // The row's expires_at is the entry's; the message's own expiry is in its meta.
      message: messageOf(row.channel, row.payload, null, row.meta),
    };
    if (row.expires_at !== null) entry.expiresAt = row.expires_at;
    return entry;
  });
  return { sessions: [...sessions.values()], retained, wills, streams, history };
}

function message(row: MessageRow): StoredMessage {
  return messageOf(row.channel, row.payload, row.expires_at, row.meta);
}

function delivery(row: DeliveryRow): InflightRecord | QueuedRecord {
  const record = { message: message(row), qos: row.qos, retain: row.retain === 1 } as InflightRecord;
  const ids = unpackIds(row.subscription_ids);
  if (ids !== undefined) record.subscriptionIds = ids;
  return record;
}
