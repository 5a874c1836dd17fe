import { DEFAULT_MAX_CHANNEL_LENGTH, DEFAULT_MAX_TOPIC_LEVELS } from '@pulse/core';
import { type AclRuleConfig, AUTH_ACL_TABLES, AUTH_USERS_TABLES, type AuthUserConfig } from './auth.js';
import { HISTORY_TABLES, type HistoryConfig } from './history.js';
import { CLUSTER_PREFIX_RULE, CLUSTER_URLS_RULE } from './cluster.js';
import { HOST_PORT, splitHostPort } from './hostport.js';
import { bool, HTTP_URL_RULE, int, type KeySpec, MAX_TIMER_MS, oneOf, port, str, strList } from './kinds.js';
import type { TableArray } from './table-array.js';

/** Shortest `auth.jwt_hmac_secret` (HS256 wants a key as long as its 256-bit hash). */
export const MIN_HMAC_SECRET_LENGTH = 32;
/** Most `server.workers`: each is a process of its own with its own engine connection. */
export const MAX_WORKERS = 256;
/** Shortest `auth.api_keys` entry. */
export const MIN_API_KEY_LENGTH = 16;

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
    tls: bool(false, 'HTTPS and WSS on the HTTP listener, with the [tls] certificate'),
    shutdown_drain_timeout_ms: int(
      5000,
      { min: 0, max: 600_000 },
      'on shutdown, how long to wait for connections to drain before closing them',
      { flags: ['shutdown-drain-timeout-ms'], envs: ['MQTT_RS_SHUTDOWN_DRAIN_TIMEOUT_MS'] },
    ),
    workers: int(
      1,
      { min: 0, max: MAX_WORKERS },
      'worker processes sharing the listening ports, joined through [cluster] engine (0 = one per CPU; docs/CLUSTER.md, "Workers")',
      { flags: ['workers'], envs: ['PULSE_WORKERS'] },
    ),
    worker_watchdog_ms: int(
      10_000,
      { min: 1000, max: 600_000 },
      'with workers: a worker that does not answer the primary for this long (a hung event loop) is killed and restarted',
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
    tls: bool(false, 'native protocol over TLS on transport.tcp_port, with the [tls] certificate'),
    ws_path: str('/ws', 'URL path of the native/JSON WebSocket endpoint', {
      metavar: 'PATH',
      rules: [{ test: (v) => v.startsWith('/'), message: 'must start with "/"' }],
    }),
    http_stream: bool(
      true,
      'accept native protocol clients over HTTP streaming on the HTTP listener: GET /connection/stream or /connection/sse, POST /connection/send (docs/PROTOCOL.md)',
    ),
    http_stream_origins: strList(
      [],
      'origins whose pages may use the HTTP streaming endpoints (CORS; "*" = any; empty = same origin only)',
    ),
  },
  mqtt: {
    host: str('', 'MQTT listen address (empty = same as server.host)', { metavar: 'HOST' }),
    port: port(1883, 'MQTT over TCP listen port (0 = off)'),
    tls: bool(false, 'MQTT over TLS on mqtt.port (e.g. 8883), with the [tls] certificate', {
      flags: ['tls'],
      envs: ['MQTT_RS_TLS_ENABLED'],
    }),
    websocket: bool(
      true,
      'accept MQTT over WebSocket at mqtt.ws_path on the HTTP listener (and on any free path offering subprotocol mqtt)',
    ),
    ws_path: str('/mqtt', 'URL path of the MQTT-over-WebSocket endpoint', {
      metavar: 'PATH',
      rules: [{ test: (v) => v.startsWith('/'), message: 'must start with "/"' }],
    }),
    ws_port: port(
      0,
      "a listener of its own for MQTT over WebSocket at mqtt.ws_path, as the seed broker's [websocket] (0 = none)",
    ),
    ws_host: str('', 'address of the mqtt.ws_port listener (empty = same as mqtt.host, else server.host)', {
      metavar: 'HOST',
    }),
    ws_tls: bool(false, 'WSS on the mqtt.ws_port listener, with the [tls] certificate'),
    max_packet_size: int(
      1_048_576,
      { min: 128, max: 268_435_455 },
      'largest MQTT packet accepted, in bytes (told to v5 clients in CONNACK)',
    ),
    max_user_properties: int(
      64,
      { min: 0, max: 65_535 },
      'user properties one v5 packet may carry (CONNECT and its will together); past it: 0x97',
    ),
    max_user_property_bytes: int(
      16_384,
      { min: 0, max: 268_435_455 },
      'bytes of user property names and values one v5 packet may carry; past it: 0x97',
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
      'longest keep alive (s) granted; a v5 client asking for none (0) or more is told this as server keep alive, a 3.1.1 or 3.1 one is refused with CONNACK 2, as in Mosquitto (0 = no cap, keep alive 0 allowed)',
    ),
    max_queued_messages: int(
      1000,
      { min: 0 },
      'QoS 1/2 messages a session may hold waiting (offline or past the inflight window)',
    ),
    max_queued_bytes: int(
      16_777_216,
      { min: 0 },
      'bytes (payload, topic and properties) a session may hold waiting; past it the oldest are dropped (0 = no byte limit)',
    ),
    max_queued_bytes_total: int(
      268_435_456,
      { min: 0 },
      'bytes (payload, topic and properties) all sessions together may hold waiting; a message past it is dropped (0 = no byte limit)',
    ),
    queue_qos0_offline: bool(false, 'also queue QoS 0 messages for disconnected persistent sessions'),
    max_session_expiry_interval: int(
      4_294_967_295,
      { min: 0, max: 4_294_967_295 },
      'longest session expiry (s) granted; 3.1.1 persistent sessions get this',
    ),
    max_sessions: int(
      100_000,
      { min: 0 },
      'MQTT sessions held at once, connected and disconnected together; a CONNECT that would start another is refused (0 = no limit)',
    ),
    max_retained_messages: int(100_000, { min: 0 }, 'retained messages kept; a new one past this is refused'),
    max_retained_bytes: int(
      268_435_456,
      { min: 0 },
      'bytes (payload, topic and properties) of all retained messages together; a retained publication that would go past it is refused',
    ),
    max_inflight_messages: int(
      1024,
      { min: 1, max: 65_535 },
      "QoS 1/2 messages sent to one client and not yet acknowledged: the lower of this and the client's receive maximum",
    ),
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
    max_topic_levels: int(
      DEFAULT_MAX_TOPIC_LEVELS,
      { min: 1, max: 65_536 },
      'most levels ("/"-separated parts) in a channel, topic or filter, every protocol (the filter of a $share)',
    ),
    max_channel_length: int(
      DEFAULT_MAX_CHANNEL_LENGTH,
      { min: 1, max: 65_535 },
      'longest channel, topic or filter in UTF-8 bytes, every protocol (a $share name whole; MQTT will, response and alias topics)',
    ),
    max_message_size: int(65_536, { min: 1, max: 16_777_216 }, 'largest publication payload in bytes'),
    max_frame_size: int(
      16_777_216,
      { min: 1024, max: 16_777_216 },
      'largest native protocol frame in bytes (hard cap 16 MiB)',
    ),
    memory_limit: int(
      0,
      { min: 0 },
      'bytes of memory (JS heap in use and Buffers) past which every publication is refused until below again (0 = no limit)',
    ),
    max_history_bytes: int(
      268_435_456,
      { min: 1 },
      'bytes (payload, channel, properties) of channel history in all streams together; past them the oldest publications of the least recently appended streams go',
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
    max_publisher_pause_ms: int(
      1000,
      { min: 0, max: 60_000 },
      'how long a connection past max_outbound_bytes may pause the publishers feeding it before slow_consumer_policy applies, and how long one publisher may be paused at a stretch (0 = never pause)',
    ),
    publisher_pause_percent: int(
      10,
      { min: 1, max: 100 },
      'the share of time, past max_publisher_pause_ms, that one slow reader may pause publishers and that one publisher may be paused (the pause allowance fills again at this rate)',
    ),
    messages_per_second: int(
      0,
      { min: 0 },
      'publications and requests one connection may send per second (0 = no limit)',
    ),
    bytes_per_second: int(0, { min: 0 }, 'bytes one connection may send per second (0 = no limit)'),
    connections_per_second_per_ip: int(
      0,
      { min: 0 },
      'new connections accepted per second from one IP address (0 = no limit)',
    ),
    max_connections_per_ip: int(0, { min: 0 }, 'most connections at once from one IP address (0 = no limit)'),
    rate_limit_disconnect_after: int(
      10,
      { min: 1 },
      'close a connection after this many rate-limited messages in a row',
    ),
    max_pending_input_bytes: int(
      268_435_456,
      { min: 65_536 },
      'bytes of client input the server holds at once for all connections together: unfinished frames and packets, fragmented WebSocket messages, requests waiting for an authorization',
    ),
    max_http_body_bytes: int(
      1_048_576,
      { min: 1024, max: 16_777_220 },
      'largest POST body of the HTTP streaming transport (one or more native frames) in bytes',
    ),
    http_body_timeout_ms: int(
      30_000,
      { min: 100, max: 600_000 },
      'an HTTP streaming POST body must be in within this long of the server starting to read it',
    ),
    handshake_timeout_ms: int(
      10_000,
      { min: 100, max: 600_000 },
      'a client has this long from the accept of its socket to the end of its handshake (TLS, WebSocket upgrade, MQTT CONNECT, native/JSON authentication)',
    ),
  },
  presence: {
    max_channels_per_connection: int(
      100,
      { min: 1 },
      'presence channels one connection may be present on at once',
    ),
    max_data_bytes: int(
      4096,
      { min: 16, max: 16_777_216 },
      "largest presence data of one member in bytes (as the client's protocol encodes it)",
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
  auth: {
    enabled: bool(false, 'every protocol must authenticate (and [[auth.acl]] rules apply, default-deny)'),
    jwt_hmac_secret: str('', 'HS256 secret that signs JWTs (at least 32 characters)', {
      metavar: 'SECRET',
      secret: true,
      rules: [
        {
          test: (v) => v === '' || v.length >= MIN_HMAC_SECRET_LENGTH,
          message: `must be at least ${MIN_HMAC_SECRET_LENGTH} characters (256 bits) — generate one with \`openssl rand -base64 48\``,
        },
      ],
    }),
    jwt_public_key: str('', 'PEM file of the public key that verifies RS256/ES256 JWTs', {
      metavar: 'PATH',
    }),
    jwks_url: str('', 'JWKS URL of the keys that verify JWTs', { metavar: 'URL', rules: [HTTP_URL_RULE] }),
    jwks_cache_ms: int(600_000, { min: 1000, max: MAX_TIMER_MS }, 'how long fetched JWKS keys are cached'),
    jwt_audience: str('', 'JWTs must carry this "aud" (empty = not checked)'),
    jwt_issuer: str('', 'JWTs must carry this "iss" (empty = not checked)'),
    jwt_mqtt_password: bool(
      true,
      'accept a JWT as the MQTT password (any username) when a JWT key is configured',
    ),
    api_keys: strList([], 'keys accepted in the x-api-key header of /api/* (at least 16 characters each)', {
      metavar: 'KEY,KEY,...',
      secret: true,
      rules: [
        {
          test: (keys) => keys.every((k) => k.length >= MIN_API_KEY_LENGTH),
          message: `must hold keys of at least ${MIN_API_KEY_LENGTH} characters each`,
        },
      ],
    }),
  },
  tls: {
    certificate_chain: str('', 'PEM file of the server certificate chain', {
      metavar: 'PATH',
      envs: ['MQTT_RS_TLS_CERTIFICATE_CHAIN'],
    }),
    private_key: str('', 'PEM file of the server private key', {
      metavar: 'PATH',
      envs: ['MQTT_RS_TLS_PRIVATE_KEY'],
    }),
    client_auth: oneOf(
      ['none', 'optional', 'required'],
      'none',
      'client certificates (mTLS): none, optional (checked when sent) or required',
      { envs: ['MQTT_RS_TLS_CLIENT_AUTH'] },
    ),
    client_ca: str('', 'PEM file of the CA that client certificates must chain to', {
      metavar: 'PATH',
      envs: ['MQTT_RS_TLS_CLIENT_CA'],
    }),
    use_identity_as_username: bool(
      false,
      "MQTT: the client certificate's subject CN is the username (as in Mosquitto)",
    ),
  },
  hooks: {
    connect_url: str('', 'HTTP hook asked whether to accept each connection (empty = off)', {
      metavar: 'URL',
      rules: [HTTP_URL_RULE],
    }),
    subscribe_url: str('', 'HTTP hook asked whether to allow each subscription (empty = off)', {
      metavar: 'URL',
      rules: [HTTP_URL_RULE],
    }),
    publish_url: str('', 'HTTP hook asked whether to allow each publication (empty = off)', {
      metavar: 'URL',
      rules: [HTTP_URL_RULE],
    }),
    timeout_ms: int(1000, { min: 1, max: 60_000 }, "how long to wait for a hook's answer"),
    cache_ttl_ms: int(
      5000,
      { min: 0, max: MAX_TIMER_MS },
      "how long a hook's answer is reused for the same question (0 = no cache)",
    ),
  },
  cluster: {
    engine: oneOf(
      ['none', 'redis', 'nats'],
      'none',
      'share one channel space with other Pulse nodes through a Redis or NATS server (none = this node alone; docs/CLUSTER.md)',
      { flags: ['cluster-engine'] },
    ),
    url: str(
      '',
      'the engine server, or several separated by commas (redis://HOST:PORT, nats://HOST:PORT; empty = the engine default on 127.0.0.1)',
      { metavar: 'URL[,URL...]', flags: ['cluster-url'], rules: [CLUSTER_URLS_RULE] },
    ),
    prefix: str(
      'pulse',
      'namespace of every key and subject on the engine server (nodes sharing it must agree)',
      {
        nonEmpty: true,
        envs: ['PULSE_CLUSTER_PREFIX', 'NATS_PREFIX'],
        rules: [CLUSTER_PREFIX_RULE],
      },
    ),
    node_name: str(
      '',
      "this node's name in logs and on the engine server (empty = hostname:pid; worker i of server.workers: <name or hostname>:w<i>)",
      {
        metavar: 'NAME',
      },
    ),
    required: bool(
      false,
      'refuse to start when the engine is unreachable (false: serve local clients and keep trying)',
    ),
    presence_ttl_ms: int(
      10_000,
      { min: 1000, max: 3_600_000 },
      'members of a node not heard from for this long leave (each node says it is alive every third of it)',
    ),
  },
} as const satisfies Record<string, Record<string, KeySpec<unknown>>>;

type Schema = typeof SCHEMA;

type ValueOf<S> = S extends KeySpec<infer T> ? T : never;

/** The configuration shape `SCHEMA` describes. */
export type ConfigOf<S extends Record<string, Record<string, KeySpec<unknown>>>> = {
  -readonly [Section in keyof S]: { -readonly [Key in keyof S[Section]]: ValueOf<S[Section][Key]> };
};

type Expand<T> = { [K in keyof T]: T[K] };

/** `[auth]`: its keys, plus the `[[auth.users]]` and `[[auth.acl]]` tables (TOML only). */
export type AuthConfig = Expand<ConfigOf<Schema>['auth'] & { users: AuthUserConfig[]; acl: AclRuleConfig[] }>;

/**
 * The effective configuration of the server: the sections above, plus the arrays of tables
 * of TABLE_ARRAYS (TOML only, see table-array.ts).
 */
export interface PulseConfig extends Omit<ConfigOf<Schema>, 'auth'> {
  auth: AuthConfig;
  history: HistoryConfig[];
}

/**
 * The TOML arrays of tables, each stored in PulseConfig at its path (default `[]`). A path
 * `<section>.<key>` must be a section of SCHEMA (and not one of its keys).
 */
export const TABLE_ARRAYS: readonly TableArray<unknown>[] = [
  HISTORY_TABLES,
  AUTH_USERS_TABLES,
  AUTH_ACL_TABLES,
];

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

/** The listeners that may turn TLS on, with how to read each switch. */
const TLS_SWITCHES: readonly { path: KeyPath; isOn: (c: PulseConfig) => boolean }[] = [
  { path: 'server.tls', isOn: (c) => c.server.tls },
  { path: 'transport.tls', isOn: (c) => c.transport.tls },
  { path: 'mqtt.tls', isOn: (c) => c.mqtt.tls },
  { path: 'mqtt.ws_tls', isOn: (c) => c.mqtt.ws_tls && c.mqtt.ws_port !== 0 },
];

export const CROSS_CHECKS: readonly CrossCheck[] = [
  {
    keys: ['heartbeat.timeout_ms', 'heartbeat.interval_ms'],
    test: (c) => c.heartbeat.timeout_ms > c.heartbeat.interval_ms,
    message: 'heartbeat.timeout_ms must be greater than heartbeat.interval_ms',
  },
  ...TLS_SWITCHES.map(
    ({ path, isOn }): CrossCheck => ({
      keys: [path, 'tls.certificate_chain', 'tls.private_key'],
      test: (c) => !isOn(c) || (c.tls.certificate_chain !== '' && c.tls.private_key !== ''),
      message: `${path} = true needs tls.certificate_chain and tls.private_key (PEM files of the server certificate chain and its key)`,
    }),
  ),
  {
    keys: ['server.workers', 'cluster.engine'],
    test: (c) => c.server.workers === 1 || c.cluster.engine !== 'none',
    message:
      'server.workers other than 1 needs [cluster] engine (the workers share publications through it: set cluster.engine = "nats" and cluster.url; without a NATS or Redis server, run one process)',
  },
  {
    keys: ['tls.client_auth', 'tls.client_ca'],
    test: (c) => c.tls.client_auth === 'none' || c.tls.client_ca !== '',
    message:
      'tls.client_auth = "optional" or "required" needs tls.client_ca (PEM file of the CA that client certificates must chain to)',
  },
  {
    keys: ['tls.use_identity_as_username', 'tls.client_auth'],
    test: (c) => !c.tls.use_identity_as_username || c.tls.client_auth !== 'none',
    message:
      'tls.use_identity_as_username = true needs tls.client_auth = "optional" or "required" (the username comes from the client certificate)',
  },
  {
    keys: ['auth.enabled'],
    test: (c) =>
      !c.auth.enabled ||
      c.auth.jwt_hmac_secret !== '' ||
      c.auth.jwt_public_key !== '' ||
      c.auth.jwks_url !== '' ||
      c.auth.users.length > 0 ||
      c.tls.use_identity_as_username,
    message:
      'auth.enabled = true but no credentials are configured: set auth.jwt_hmac_secret, auth.jwt_public_key, auth.jwks_url or [[auth.users]]',
  },
];

/**
 * Settings that are accepted but do nothing in the configuration they are in: when one of
 * `keys` was written and `test` fails, start-up logs a warning (the settings, then `message`).
 */
export const NOTICES: readonly CrossCheck[] = [
  {
    keys: ['storage.commit_policy', 'storage.engine'],
    test: (c) => c.storage.engine !== 'memory',
    message:
      'storage.commit_policy has no effect with the memory engine, which keeps nothing past the process (set storage.engine = "sqlite" for durable state)',
  },
  {
    keys: ['transport.http_stream', 'server.workers'],
    test: (c) => !c.transport.http_stream || c.server.workers === 1,
    message:
      'transport.http_stream is not served with server.workers other than 1: a POST may reach another worker than its session (the endpoints answer 501)',
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

/**
 * A name of the MQTT broker seed that has no meaning in Pulse: accepted as a flag, an
 * environment variable and a TOML key, and ignored with a warning that says why.
 */
export interface IgnoredSeedName {
  flag: string;
  env: string;
  /** The TOML key: `[section] key`. */
  section: string;
  key: string;
  metavar: string;
  /** Completes "... is ignored: ". */
  why: string;
}

export const IGNORED_SEED_NAMES: readonly IgnoredSeedName[] = [
  {
    flag: 'worker-threads',
    env: 'MQTT_RS_WORKER_THREADS',
    section: 'server',
    key: 'worker_threads',
    metavar: 'N',
    why: 'Pulse has no thread count; to use more cores run worker processes with server.workers (--workers N, with [cluster] engine)',
  },
];

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
    flag: 'nats-url',
    env: 'NATS_URL',
    metavar: 'URL',
    help: 'cluster over NATS at URL (the turbine seed), sets cluster.engine = nats and cluster.url',
    keys: ['cluster.engine', 'cluster.url'],
    expected: 'a nats:// URL',
    split: (text) => (CLUSTER_URLS_RULE.test(text) && text.trim() !== '' ? ['nats', text] : undefined),
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
