import type Database from 'better-sqlite3';

/** `PRAGMA application_id` of a Pulse store: 'PULS'. */
export const PULSE_APPLICATION_ID = 0x50554c53;
/** `PRAGMA user_version` this build writes and reads. */
export const SCHEMA_VERSION = 1;

/**
 * The tables of the SQLite store. A stored message is `channel`, `payload`, `expires_at`
 * (its expiry, for purge queries) and `meta` (message-codec.ts: one byte for a plain message,
 * else msgpack of event, qos, retain, properties; not the publisher: connection ids do not
 * outlive a restart). Keys are natural, so tables are WITHOUT ROWID — but `inflight`, the
 * hottest, which is a rowid table addressed by `seq`.
 */
export const SCHEMA = `
CREATE TABLE IF NOT EXISTS pulse_meta (
  key TEXT PRIMARY KEY,
  value
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS sessions (
  client_id TEXT PRIMARY KEY,
  expiry_interval INTEGER NOT NULL,
  subscriptions BLOB NOT NULL,
  expires_at INTEGER,
  user TEXT
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS inflight (
  seq INTEGER PRIMARY KEY,
  client_id TEXT NOT NULL,
  packet_id INTEGER NOT NULL,
  state TEXT NOT NULL,
  qos INTEGER NOT NULL,
  retain INTEGER NOT NULL,
  subscription_ids BLOB,
  channel TEXT NOT NULL,
  payload BLOB NOT NULL,
  expires_at INTEGER,
  meta BLOB NOT NULL
);

CREATE TABLE IF NOT EXISTS queued (
  client_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  qos INTEGER NOT NULL,
  retain INTEGER NOT NULL,
  subscription_ids BLOB,
  channel TEXT NOT NULL,
  payload BLOB NOT NULL,
  expires_at INTEGER,
  meta BLOB NOT NULL,
  PRIMARY KEY (client_id, seq)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS incoming_qos2 (
  client_id TEXT NOT NULL,
  packet_id INTEGER NOT NULL,
  PRIMARY KEY (client_id, packet_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS retained (
  channel TEXT PRIMARY KEY,
  payload BLOB NOT NULL,
  expires_at INTEGER,
  meta BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS wills (
  client_id TEXT PRIMARY KEY,
  publish_at INTEGER NOT NULL,
  expiry_seconds INTEGER,
  channel TEXT NOT NULL,
  payload BLOB NOT NULL,
  expires_at INTEGER,
  meta BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS streams (
  channel TEXT PRIMARY KEY,
  epoch TEXT NOT NULL,
  "offset" INTEGER NOT NULL,
  updated_at INTEGER
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS history (
  channel TEXT NOT NULL,
  "offset" INTEGER NOT NULL,
  time INTEGER NOT NULL,
  expires_at INTEGER,
  payload BLOB NOT NULL,
  meta BLOB NOT NULL,
  PRIMARY KEY (channel, "offset")
) WITHOUT ROWID;
`;

/** The statements of the store, prepared once. `?` order is the order the store binds. */
export const SQL = {
  putSession:
    'INSERT OR REPLACE INTO sessions (client_id, expiry_interval, subscriptions, expires_at, user) VALUES (?, ?, ?, ?, ?)',
  deleteSession: 'DELETE FROM sessions WHERE client_id = ?',
  deleteSessionQueued: 'DELETE FROM queued WHERE client_id = ?',
  deleteSessionQos2: 'DELETE FROM incoming_qos2 WHERE client_id = ?',
  // Inflight rows are appended (a rowid table: the cheapest insert and delete SQLite has) and
  // addressed by their `seq`, which the store keeps per (client id, packet id) in memory.
  // `seq` orders them too: resends go in the order messages were first sent.
  putInflight: `INSERT INTO inflight
      (client_id, packet_id, state, qos, retain, subscription_ids, channel, payload, expires_at, meta)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  replaceInflight: `UPDATE inflight SET state = ?, qos = ?, retain = ?, subscription_ids = ?, channel = ?,
      payload = ?, expires_at = ?, meta = ? WHERE seq = ?`,
  deleteInflight: 'DELETE FROM inflight WHERE seq = ?',
  // PUBREC received: only the state changes (the row keeps its message and order).
  setInflightState: 'UPDATE inflight SET state = ? WHERE seq = ?',
  inflightSeqs: 'SELECT seq, client_id, packet_id FROM inflight',
  putQueued: `INSERT OR REPLACE INTO queued
      (client_id, seq, qos, retain, subscription_ids, channel, payload, expires_at, meta)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  deleteQueued: 'DELETE FROM queued WHERE client_id = ? AND seq = ?',
  putQos2: 'INSERT OR IGNORE INTO incoming_qos2 (client_id, packet_id) VALUES (?, ?)',
  deleteQos2: 'DELETE FROM incoming_qos2 WHERE client_id = ? AND packet_id = ?',
  putRetained: 'INSERT OR REPLACE INTO retained (channel, payload, expires_at, meta) VALUES (?, ?, ?, ?)',
  deleteRetained: 'DELETE FROM retained WHERE channel = ?',
  putWill: `INSERT OR REPLACE INTO wills
      (client_id, publish_at, expiry_seconds, channel, payload, expires_at, meta) VALUES (?, ?, ?, ?, ?, ?, ?)`,
  deleteWill: 'DELETE FROM wills WHERE client_id = ?',
  putStream: 'INSERT OR REPLACE INTO streams (channel, epoch, "offset", updated_at) VALUES (?, ?, ?, ?)',
  deleteStream: 'DELETE FROM streams WHERE channel = ?',
  appendHistory: `INSERT OR REPLACE INTO history (channel, "offset", time, expires_at, payload, meta)
    VALUES (?, ?, ?, ?, ?, ?)`,
  trimHistory: 'DELETE FROM history WHERE channel = ? AND "offset" < ?',
  dropHistory: 'DELETE FROM history WHERE channel = ?',

  purgeInflight:
    'DELETE FROM inflight WHERE client_id IN (SELECT client_id FROM sessions WHERE expires_at <= ?)',
  purgeSessionQueued:
    'DELETE FROM queued WHERE client_id IN (SELECT client_id FROM sessions WHERE expires_at <= ?)',
  purgeQos2:
    'DELETE FROM incoming_qos2 WHERE client_id IN (SELECT client_id FROM sessions WHERE expires_at <= ?)',
  purgeSessions: 'DELETE FROM sessions WHERE expires_at <= ?',
  purgeQueued: 'DELETE FROM queued WHERE expires_at <= ?',
  purgeRetained: 'DELETE FROM retained WHERE expires_at <= ?',
  /** Every channel with history, by a skip scan of the primary key. */
  historyChannels: `WITH RECURSIVE c(channel) AS (
      SELECT MIN(channel) FROM history
      UNION ALL SELECT (SELECT MIN(channel) FROM history WHERE channel > c.channel) FROM c
      WHERE c.channel IS NOT NULL)
    SELECT channel FROM c WHERE channel IS NOT NULL`,
  /** The oldest entry of a channel that has not expired: history is trimmed from the front only. */
  firstLiveHistory: `SELECT "offset" FROM history WHERE channel = ? AND (expires_at IS NULL OR expires_at > ?)
    ORDER BY "offset" LIMIT 1`,

  sessionIds: 'SELECT client_id FROM sessions',
  /** `pulse_meta` keys: `opened_at`, `state` ('open' while a store is open, 'clean' once closed). */
  getMeta: 'SELECT value FROM pulse_meta WHERE key = ?',
  putMeta: 'INSERT OR REPLACE INTO pulse_meta (key, value) VALUES (?, ?)',
  loadSessions: 'SELECT client_id, expiry_interval, subscriptions, expires_at, user FROM sessions',
  loadInflight: `SELECT client_id, packet_id, state, qos, retain, subscription_ids, channel, payload, expires_at, meta
    FROM inflight ORDER BY client_id, seq`,
  loadQueued: `SELECT client_id, seq, qos, retain, subscription_ids, channel, payload, expires_at, meta
    FROM queued ORDER BY client_id, seq`,
  loadQos2: 'SELECT client_id, packet_id FROM incoming_qos2 ORDER BY client_id, packet_id',
  loadRetained: 'SELECT channel, payload, expires_at, meta FROM retained',
  loadWills: 'SELECT client_id, publish_at, expiry_seconds, channel, payload, expires_at, meta FROM wills',
  loadStreams: 'SELECT channel, epoch, "offset" AS "offset", updated_at FROM streams',
  loadHistory: `SELECT channel, "offset" AS "offset", time, expires_at, payload, meta
    FROM history ORDER BY channel, "offset"`,
} as const;

/** The prepared statements, by name. */
export type Statements = { [K in keyof typeof SQL]: Database.Statement };
