import type { HistoryConfig } from './history.js';
import { HOST_PORT, splitHostPort } from './hostport.js';
import { bool, int, type KeySpec, MAX_TIMER_MS, oneOf, port, str } from './kinds.js';

/**
 * Every configuration key. Add a section or a key by adding a row here: the TOML
 * key, `PULSE_<SECTION>_<KEY>`, `--<section>-<key>`, --help and the `PulseConfig`
 * type all follow from it.
 */
export const SCHEMA = {
  server: {
    host: str('127.0.0.1', 'HTTP + WebSocket listen address', {
      nonEmpty: true,
      metavar: 'HOST',
      flags: ['host'],
      envs: ['PULSE_HOST'],
    }),
    port: port(8080, 'HTTP + WebSocket listen port (0 = any free port)', {
      flags: ['port'],
      envs: ['PULSE_PORT'],
    }),
    shutdown_drain_timeout_ms: int(
      5000,
      { min: 0, max: 600_000 },
      'on shutdown, how long to wait for connections to drain before closing them',
      { flags: ['shutdown-drain-timeout-ms'], envs: ['MQTT_RS_SHUTDOWN_DRAIN_TIMEOUT_MS'] },
    ),
  },
  transport: {
    websocket: bool(true, 'accept WebSocket clients on the HTTP listener'),
    webtransport: bool(false, 'WebTransport (not supported: must stay false)', {
      rules: [
        {
          test: (v) => v === false,
          message:
            'WebTransport is not supported by this server, set it to false (clients connect over WebSocket or TCP)',
          standalone: true,
        },
      ],
    }),
    tcp_port: port(8081, 'native protocol over raw TCP on server.host (0 = off)', {
      flags: ['tcp-port'],
      envs: ['PULSE_TCP_PORT'],
    }),
    ws_path: str('/ws', 'URL path of the native/JSON WebSocket endpoint', {
      metavar: 'PATH',
      rules: [{ test: (v) => v.startsWith('/'), message: 'must start with "/"' }],
    }),
  },
  mqtt: {
    host: str('', 'MQTT listen address (empty = same as server.host)', { metavar: 'HOST' }),
    port: port(1883, 'MQTT over TCP listen port (0 = off)'),
    websocket: bool(true, 'accept MQTT over WebSocket at mqtt.ws_path on the HTTP listener'),
    ws_path: str('/mqtt', 'URL path of the MQTT-over-WebSocket endpoint', {
      metavar: 'PATH',
      rules: [{ test: (v) => v.startsWith('/'), message: 'must start with "/"' }],
    }),
    max_packet_size: int(
      1_048_576,
      { min: 128, max: 268_435_455 },
      'largest MQTT packet accepted, in bytes (told to v5 clients in CONNACK)',
    ),
    receive_maximum: int(
      1024,
      { min: 1, max: 65_535 },
      'QoS 1/2 publications a client may have unacknowledged towards the server',
    ),
    topic_alias_maximum: int(
      64,
      { min: 0, max: 65_535 },
      'topic aliases a v5 client may use towards the server',
    ),
    max_keepalive: int(
      65_535,
      { min: 0, max: 65_535 },
      'longest keep alive (s) granted to v5 clients (longer requests get this as server keep alive; 0 = no cap)',
    ),
    max_queued_messages: int(
      1000,
      { min: 0 },
      'QoS 1/2 messages a session may hold waiting (offline or past the inflight window)',
    ),
    queue_qos0_offline: bool(false, 'also queue QoS 0 messages for disconnected persistent sessions'),
    max_session_expiry_interval: int(
      4_294_967_295,
      { min: 0, max: 4_294_967_295 },
      'longest session expiry (s) granted; 3.1.1 persistent sessions get this',
    ),
    max_retained_messages: int(100_000, { min: 0 }, 'retained messages kept; a new one past this is refused'),
    inflight_retransmit_interval_ms: int(
      0,
      { min: 0, max: MAX_TIMER_MS },
      'resend unacknowledged QoS 1/2 messages this often while connected (0 = only on reconnect)',
      {
        flags: ['inflight-retransmit-interval-ms'],
        envs: ['MQTT_RS_INFLIGHT_RETRANSMIT_INTERVAL_MS'],
      },
    ),
    slow_consumer_policy: oneOf(
      ['throttle', 'disconnect', 'queue-offline'],
      'throttle',
      'past limits.max_outbound_bytes: throttle (QoS 0 dropped, QoS 1/2 wait in the session queue), disconnect, or queue-offline (QoS 0 waits too)',
      { flags: ['slow-consumer-policy'], envs: ['MQTT_RS_SLOW_CONSUMER_POLICY'] },
    ),
    sys_interval_ms: int(
      10_000,
      { min: 0, max: MAX_TIMER_MS },
      'publish $SYS/broker/... topics this often (0 = off)',
    ),
  },
  storage: {
    engine: oneOf(
      ['memory', 'sqlite', 'wal'],
      'memory',
      'where durable state lives: memory (the process lifetime), sqlite (storage.path), or wal (SQLite in WAL mode at <storage.wal_dir>/pulse.db, for the MQTT broker seed)',
      { flags: ['storage-engine'], envs: ['MQTT_RS_STORAGE_ENGINE'] },
    ),
    path: str('data/pulse.db', 'SQLite database file of storage.engine = sqlite (its directory is created)', {
      nonEmpty: true,
      metavar: 'PATH',
    }),
    wal_dir: str('data/wal', 'directory of storage.engine = wal', {
      nonEmpty: true,
      metavar: 'DIR',
      flags: ['wal-dir'],
      envs: ['MQTT_RS_WAL_DIR'],
    }),
    commit_policy: oneOf(
      ['strict', 'balanced', 'fast'],
      'balanced',
      'strict: fsync before acknowledging; balanced: commit each event-loop turn before acknowledging (survives a process crash); fast: commit every storage.flush_interval_ms, acknowledge at once',
      { flags: ['storage-commit-policy'], envs: ['MQTT_RS_STORAGE_COMMIT_POLICY'] },
    ),
    flush_interval_ms: int(
      100,
      { min: 1, max: 60_000 },
      'commit_policy = fast: commit this often (a crash loses at most this much)',
    ),
    purge_interval_ms: int(
      60_000,
      { min: 0, max: MAX_TIMER_MS },
      'delete expired sessions, messages and history from the store this often (0 = off)',
    ),
    max_stored_messages: int(
      1_000_000,
      { min: 1 },
      'most messages held for MQTT sessions (queued and in flight) across all sessions',
    ),
  },
  limits: {
    max_connections: int(100_000, { min: 1 }, 'most client connections at once, all protocols together'),
    max_channels: int(10_000, { min: 1 }, 'most channels that exist at once'),
    max_subscriptions_per_connection: int(100, { min: 1 }, 'most subscriptions one connection may hold'),
    max_message_size: int(65_536, { min: 1, max: 16_777_216 }, 'largest publication payload in bytes'),
    max_frame_size: int(
      16_777_216,
      { min: 1024, max: 16_777_216 },
      'largest native protocol frame in bytes (hard cap 16 MiB)',
    ),
    max_outbound_bytes: int(
      1_048_576,
      { min: 1024 },
      'bytes queued for one connection before slow_consumer_policy applies',
    ),
    slow_consumer_policy: oneOf(
      ['drop', 'disconnect'],
      'drop',
      'past max_outbound_bytes: drop messages (counted in metrics) or disconnect the client',
    ),
  },
  heartbeat: {
    interval_ms: int(30_000, { min: 10, max: MAX_TIMER_MS }, 'send a ping to a client silent this long'),
    timeout_ms: int(
      60_000,
      { min: 10, max: MAX_TIMER_MS },
      'close a client silent this long (must be greater than heartbeat.interval_ms)',
    ),
  },
  metrics: {
    enabled: bool(true, 'serve Prometheus metrics at /metrics'),
    host: str('127.0.0.1', 'metrics listen address', { nonEmpty: true, metavar: 'HOST' }),
    port: port(9090, 'metrics listen port (0 = off)'),
  },
  log: {
    level: oneOf(
      ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'],
      'info',
      'log level: trace, debug, info, warn, error, fatal or silent',
      {
        metavar: 'LEVEL',
        flags: ['log'],
        envs: ['PULSE_LOG', 'MQTT_RS_LOG'],
      },
    ),
    report_interval_ms: int(
      60_000,
      { min: 0, max: MAX_TIMER_MS },
      'log a one-line stats summary this often (0 = off)',
    ),
  },
} as const satisfies Record<string, Record<string, KeySpec<unknown>>>;

type Schema = typeof SCHEMA;

type ValueOf<S> = S extends KeySpec<infer T> ? T : never;

/** The configuration shape `SCHEMA` describes. */
export type ConfigOf<S extends Record<string, Record<string, KeySpec<unknown>>>> = {
  -readonly [Section in keyof S]: { -readonly [Key in keyof S[Section]]: ValueOf<S[Section][Key]> };
};

/**
 * The effective configuration of the server: the sections above, plus the `[[history]]`
 * tables (TOML only, see history.ts).
 */
export interface PulseConfig extends ConfigOf<Schema> {
  history: HistoryConfig[];
}

/** `"<section>.<key>"` of every key. */
export type KeyPath = {
  [Section in keyof Schema]: `${Section & string}.${keyof Schema[Section] & string}`;
}[keyof Schema];

/** A rule across keys, checked after all sources are merged. */
export interface CrossCheck {
  /** The keys involved; their values and sources are quoted in the error. */
  keys: readonly KeyPath[];
  test: (config: PulseConfig) => boolean;
  /** The error, naming the keys. */
  message: string;
}

export const CROSS_CHECKS: readonly CrossCheck[] = [
  {
    keys: ['heartbeat.timeout_ms', 'heartbeat.interval_ms'],
    test: (c) => c.heartbeat.timeout_ms > c.heartbeat.interval_ms,
    message: 'heartbeat.timeout_ms must be greater than heartbeat.interval_ms',
  },
];

/**
 * A flag or environment variable that sets several keys from one value
 * (the MQTT broker seed's `--bind HOST:PORT`, ...).
 */
export interface CompoundAlias {
  flag: string;
  env: string;
  metavar: string;
  help: string;
  keys: readonly KeyPath[];
  /** What a valid value looks like, completing "expected ...". */
  expected: string;
  /** Splits the value into text for each of `keys`, in order; undefined if malformed. */
  split: (text: string) => readonly string[] | undefined;
}

export const COMPOUND_ALIASES: readonly CompoundAlias[] = [
  {
    flag: 'bind',
    env: 'MQTT_RS_BIND',
    metavar: 'HOST:PORT',
    help: 'MQTT listener, sets mqtt.host and mqtt.port',
    keys: ['mqtt.host', 'mqtt.port'],
    expected: HOST_PORT,
    split: splitHostPort,
  },
  {
    flag: 'metrics-bind',
    env: 'MQTT_RS_METRICS_BIND',
    metavar: 'HOST:PORT',
    help: 'metrics listener, sets metrics.host and metrics.port',
    keys: ['metrics.host', 'metrics.port'],
    expected: HOST_PORT,
    split: splitHostPort,
  },
  {
    flag: 'sqlite',
    env: 'MQTT_RS_SQLITE',
    metavar: 'PATH',
    help: 'SQLite storage at PATH, sets storage.engine = sqlite and storage.path',
    keys: ['storage.engine', 'storage.path'],
    expected: 'a file path',
    split: (text) => (text.length > 0 ? ['sqlite', text] : undefined),
  },
];
