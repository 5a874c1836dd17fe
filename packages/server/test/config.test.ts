import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  ConfigError,
  defaultConfig,
  type LoadResult,
  loadConfig,
  type PulseConfig,
} from '../src/config/index.js';

// The public shape from the design, written out by hand: PulseConfig is derived
// from the key table, and this fails to compile if the two drift apart.
interface SpecConfig {
  server: {
    host: string;
    port: number;
    tls: boolean;
    shutdown_drain_timeout_ms: number;
    workers: number;
    worker_watchdog_ms: number;
  };
  transport: {
    websocket: boolean;
    webtransport: boolean;
    tcp_port: number;
    tls: boolean;
    ws_path: string;
    http_stream: boolean;
    http_stream_origins: string[];
  };
  mqtt: {
    host: string;
    port: number;
    tls: boolean;
    websocket: boolean;
    ws_path: string;
    ws_port: number;
    ws_host: string;
    ws_tls: boolean;
    max_packet_size: number;
    max_user_properties: number;
    max_user_property_bytes: number;
    receive_maximum: number;
    topic_alias_maximum: number;
    max_keepalive: number;
    max_queued_messages: number;
    max_queued_bytes: number;
    max_queued_bytes_total: number;
    queue_qos0_offline: boolean;
    max_session_expiry_interval: number;
    max_sessions: number;
    max_retained_messages: number;
    max_retained_bytes: number;
    max_inflight_messages: number;
    inflight_retransmit_interval_ms: number;
    slow_consumer_policy: 'throttle' | 'disconnect' | 'queue-offline';
    sys_interval_ms: number;
  };
  storage: {
    engine: 'memory' | 'sqlite' | 'wal';
    path: string;
    wal_dir: string;
    commit_policy: 'strict' | 'balanced' | 'fast';
    flush_interval_ms: number;
    purge_interval_ms: number;
    max_stored_messages: number;
  };
  limits: {
    max_connections: number;
    max_channels: number;
    max_subscriptions_per_connection: number;
    max_topic_levels: number;
    max_channel_length: number;
    max_message_size: number;
    max_frame_size: number;
    memory_limit: number;
    max_history_bytes: number;
    max_outbound_bytes: number;
    slow_consumer_policy: 'drop' | 'disconnect';
    max_publisher_pause_ms: number;
    publisher_pause_percent: number;
    messages_per_second: number;
    bytes_per_second: number;
    connections_per_second_per_ip: number;
    max_connections_per_ip: number;
    rate_limit_disconnect_after: number;
    max_pending_input_bytes: number;
    max_http_body_bytes: number;
    http_body_timeout_ms: number;
    handshake_timeout_ms: number;
  };
  presence: { max_channels_per_connection: number; max_data_bytes: number };
  heartbeat: { interval_ms: number; timeout_ms: number };
  metrics: { enabled: boolean; host: string; port: number };
  log: {
    level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
    report_interval_ms: number;
  };
  auth: {
    enabled: boolean;
    jwt_hmac_secret: string;
    jwt_public_key: string;
    jwks_url: string;
    jwks_cache_ms: number;
    jwt_audience: string;
    jwt_issuer: string;
    jwt_mqtt_password: boolean;
    api_keys: string[];
    users: { username: string; password_hash: string; password: string }[];
    acl: { username: string; action: 'publish' | 'subscribe' | 'all'; topic_filter: string }[];
  };
  tls: {
    certificate_chain: string;
    private_key: string;
    client_auth: 'none' | 'optional' | 'required';
    client_ca: string;
    use_identity_as_username: boolean;
  };
  hooks: {
    connect_url: string;
    subscribe_url: string;
    publish_url: string;
    timeout_ms: number;
    cache_ttl_ms: number;
  };
  cluster: {
    engine: 'none' | 'redis' | 'nats';
    url: string;
    prefix: string;
    node_name: string;
    required: boolean;
    presence_ttl_ms: number;
  };
  history: { pattern: string; size: number; ttl_ms: number; max_bytes?: number }[];
}
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const shapeMatchesSpec: Equal<PulseConfig, SpecConfig> = true;

const SEED_TOML = fileURLToPath(new URL('../../test/fixtures/seed.toml', import.meta.url));
const VERSION = '1.2.3';
const listener = (c: PulseConfig) => ({ host: c.mqtt.host, port: c.mqtt.port });

const DEFAULTS: SpecConfig = {
  server: {
    host: '127.0.0.1',
    port: 8080,
    tls: false,
    shutdown_drain_timeout_ms: 5000,
    workers: 1,
    worker_watchdog_ms: 10_000,
  },
  transport: {
    websocket: true,
    webtransport: false,
    tcp_port: 8081,
    tls: false,
    ws_path: '/ws',
    http_stream: true,
    http_stream_origins: [],
  },
  mqtt: {
    host: '',
    port: 1883,
    tls: false,
    websocket: true,
    ws_path: '/mqtt',
    ws_port: 0,
    ws_host: '',
    ws_tls: false,
    max_packet_size: 1_048_576,
    max_user_properties: 64,
    max_user_property_bytes: 16_384,
    receive_maximum: 1024,
    topic_alias_maximum: 64,
    max_keepalive: 65_535,
    max_queued_messages: 1000,
    max_queued_bytes: 16_777_216,
    max_queued_bytes_total: 268_435_456,
    queue_qos0_offline: false,
    max_session_expiry_interval: 4_294_967_295,
    max_sessions: 100_000,
    max_retained_messages: 100_000,
    max_retained_bytes: 268_435_456,
    max_inflight_messages: 1024,
    inflight_retransmit_interval_ms: 0,
    slow_consumer_policy: 'throttle',
    sys_interval_ms: 10_000,
  },
  storage: {
    engine: 'memory',
    path: 'data/pulse.db',
    wal_dir: 'data/wal',
    commit_policy: 'balanced',
    flush_interval_ms: 100,
    purge_interval_ms: 60_000,
    max_stored_messages: 1_000_000,
  },
  limits: {
    max_connections: 100000,
    max_channels: 10000,
    max_subscriptions_per_connection: 100,
    max_topic_levels: 128,
    max_channel_length: 1024,
    max_message_size: 65536,
    max_frame_size: 16777216,
    memory_limit: 0,
    max_history_bytes: 268_435_456,
    max_outbound_bytes: 1048576,
    slow_consumer_policy: 'drop',
    max_publisher_pause_ms: 1000,
    publisher_pause_percent: 10,
    messages_per_second: 0,
    bytes_per_second: 0,
    connections_per_second_per_ip: 0,
    max_connections_per_ip: 0,
    rate_limit_disconnect_after: 10,
    max_pending_input_bytes: 268_435_456,
    max_http_body_bytes: 1_048_576,
    http_body_timeout_ms: 30_000,
    handshake_timeout_ms: 10_000,
  },
  presence: { max_channels_per_connection: 100, max_data_bytes: 4096 },
  heartbeat: { interval_ms: 30000, timeout_ms: 60000 },
  metrics: { enabled: true, host: '127.0.0.1', port: 9090 },
  log: { level: 'info', report_interval_ms: 60000 },
  auth: {
    enabled: false,
    jwt_hmac_secret: '',
    jwt_public_key: '',
    jwks_url: '',
    jwks_cache_ms: 600_000,
    jwt_audience: '',
    jwt_issuer: '',
    jwt_mqtt_password: true,
    api_keys: [],
    users: [],
    acl: [],
  },
  tls: {
    certificate_chain: '',
    private_key: '',
    client_auth: 'none',
    client_ca: '',
    use_identity_as_username: false,
  },
  hooks: { connect_url: '', subscribe_url: '', publish_url: '', timeout_ms: 1000, cache_ttl_ms: 5000 },
  cluster: {
    engine: 'none',
    url: '',
    prefix: 'pulse',
    node_name: '',
    required: false,
    presence_ttl_ms: 10_000,
  },
  history: [],
};

/** The arrays of tables inside sections: TOML only, not keys. */
const TABLE_PATHS = ['auth.users', 'auth.acl'];

/** Every directory the tests make, inside one removed at the end. */
const root = mkdtempSync(join(tmpdir(), 'pulse-config-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A fresh empty directory: no pulse.toml unless the test writes one. */
function tempDir(): string {
  return mkdtempSync(join(root, 'dir-'));
}

/** A directory holding `pulse.toml` with `text`. */
function dirWithToml(text: string): string {
  const dir = tempDir();
  writeFileSync(join(dir, 'pulse.toml'), text);
  return dir;
}

type Env = Record<string, string | undefined>;

function load(argv: string[] = [], env: Env = {}, cwd: string = tempDir()): LoadResult {
  return loadConfig(argv, env, cwd, VERSION);
}

function run(argv: string[] = [], env: Env = {}, cwd: string = tempDir()) {
  const result = load(argv, env, cwd);
  assert.equal(result.kind, 'run');
  return result as Extract<LoadResult, { kind: 'run' }>;
}

function config(argv: string[] = [], env: Env = {}, cwd: string = tempDir()): PulseConfig {
  return run(argv, env, cwd).config;
}

/** The message of the ConfigError that loading throws; checks it is one `config error:` line. */
function errorOf(argv: string[] = [], env: Env = {}, cwd: string = tempDir()): string {
  try {
    load(argv, env, cwd);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.ok(err instanceof Error);
    assert.match(err.message, /^config error: /);
    assert.doesNotMatch(err.message, /[\r\n]/);
    return err.message;
  }
  assert.fail('expected a ConfigError');
}

function withKey(base: SpecConfig, path: string, value: unknown): SpecConfig {
  const copy = structuredClone(base) as unknown as Record<string, Record<string, unknown>>;
  const [section = '', key = ''] = path.split('.');
  const table = copy[section];
  assert.ok(table !== undefined, `no section ${section}`);
  table[key] = value;
  return copy as unknown as SpecConfig;
}

/** One key's value as TOML, as env/flag text, and as the parsed value. */
interface KeyValue {
  path: string;
  toml: string;
  text: string;
  value: unknown;
}

const CERT: KeyValue[] = [
  { path: 'tls.certificate_chain', toml: '"/c.pem"', text: '/c.pem', value: '/c.pem' },
  { path: 'tls.private_key', toml: '"/k.pem"', text: '/k.pem', value: '/k.pem' },
];
const CLIENT_CA: KeyValue = { path: 'tls.client_ca', toml: '"/ca.pem"', text: '/ca.pem', value: '/ca.pem' };
const SECRET = '0123456789abcdef0123456789abcdef';
const API_KEY = 'k3y-0123456789abcdef';

/**
 * A valid, non-default value for every key, as TOML, as text, and as the parsed value;
 * `needs`: other keys a cross check wants set with it.
 */
const EVERY_KEY: (KeyValue & { needs?: KeyValue[] })[] = [
  { path: 'server.host', toml: '"0.0.0.0"', text: '0.0.0.0', value: '0.0.0.0' },
  { path: 'server.port', toml: '9000', text: '9000', value: 9000 },
  { path: 'server.tls', toml: 'true', text: 'true', value: true, needs: CERT },
  { path: 'transport.tls', toml: 'true', text: 'yes', value: true, needs: CERT },
  { path: 'mqtt.tls', toml: 'true', text: '1', value: true, needs: CERT },
  { path: 'server.shutdown_drain_timeout_ms', toml: '0', text: '0', value: 0 },
  {
    path: 'server.workers',
    toml: '4',
    text: '4',
    value: 4,
    needs: [{ path: 'cluster.engine', toml: '"nats"', text: 'nats', value: 'nats' }],
  },
  { path: 'server.worker_watchdog_ms', toml: '2000', text: '2000', value: 2000 },
  { path: 'transport.websocket', toml: 'false', text: 'false', value: false },
  { path: 'transport.webtransport', toml: 'false', text: 'no', value: false },
  { path: 'transport.tcp_port', toml: '0', text: '0', value: 0 },
  { path: 'transport.ws_path', toml: '"/pulse"', text: '/pulse', value: '/pulse' },
  { path: 'transport.http_stream', toml: 'false', text: 'false', value: false },
  {
    path: 'transport.http_stream_origins',
    toml: '["https://app.example", "*"]',
    text: 'https://app.example, *',
    value: ['https://app.example', '*'],
  },
  { path: 'storage.engine', toml: '"sqlite"', text: 'sqlite', value: 'sqlite' },
  { path: 'storage.path', toml: '"/tmp/x.db"', text: '/tmp/x.db', value: '/tmp/x.db' },
  { path: 'storage.wal_dir', toml: '"/tmp/wal"', text: '/tmp/wal', value: '/tmp/wal' },
  { path: 'storage.commit_policy', toml: '"strict"', text: 'strict', value: 'strict' },
  { path: 'storage.flush_interval_ms', toml: '5', text: '5', value: 5 },
  { path: 'storage.purge_interval_ms', toml: '0', text: '0', value: 0 },
  { path: 'storage.max_stored_messages', toml: '10', text: '10', value: 10 },
  { path: 'mqtt.host', toml: '"10.0.0.1"', text: '10.0.0.1', value: '10.0.0.1' },
  { path: 'mqtt.port', toml: '1884', text: '1884', value: 1884 },
  { path: 'mqtt.websocket', toml: 'false', text: 'false', value: false },
  { path: 'mqtt.ws_path', toml: '"/m"', text: '/m', value: '/m' },
  { path: 'mqtt.ws_port', toml: '8083', text: '8083', value: 8083 },
  { path: 'mqtt.ws_host', toml: '"0.0.0.0"', text: '0.0.0.0', value: '0.0.0.0' },
  { path: 'mqtt.ws_tls', toml: 'true', text: 'true', value: true },
  { path: 'mqtt.max_packet_size', toml: '4096', text: '4096', value: 4096 },
  { path: 'mqtt.max_user_properties', toml: '8', text: '8', value: 8 },
  { path: 'mqtt.max_user_property_bytes', toml: '512', text: '512', value: 512 },
  { path: 'mqtt.receive_maximum', toml: '10', text: '10', value: 10 },
  { path: 'mqtt.topic_alias_maximum', toml: '5', text: '5', value: 5 },
  { path: 'mqtt.max_keepalive', toml: '120', text: '120', value: 120 },
  { path: 'mqtt.max_queued_messages', toml: '50', text: '50', value: 50 },
  { path: 'mqtt.max_queued_bytes', toml: '204800', text: '204800', value: 204_800 },
  { path: 'mqtt.max_queued_bytes_total', toml: '1048576', text: '1048576', value: 1_048_576 },
  { path: 'mqtt.queue_qos0_offline', toml: 'true', text: 'true', value: true },
  { path: 'mqtt.max_session_expiry_interval', toml: '3600', text: '3600', value: 3600 },
  { path: 'mqtt.max_sessions', toml: '5000', text: '5000', value: 5000 },
  { path: 'mqtt.max_retained_messages', toml: '7', text: '7', value: 7 },
  { path: 'mqtt.max_retained_bytes', toml: '4096', text: '4096', value: 4096 },
  { path: 'mqtt.max_inflight_messages', toml: '20', text: '20', value: 20 },
  { path: 'mqtt.inflight_retransmit_interval_ms', toml: '250', text: '250', value: 250 },
  { path: 'mqtt.slow_consumer_policy', toml: '"disconnect"', text: 'disconnect', value: 'disconnect' },
  { path: 'mqtt.sys_interval_ms', toml: '0', text: '0', value: 0 },
  { path: 'limits.max_connections', toml: '5', text: '5', value: 5 },
  { path: 'limits.max_channels', toml: '7', text: '7', value: 7 },
  { path: 'limits.max_subscriptions_per_connection', toml: '3', text: '3', value: 3 },
  { path: 'limits.max_topic_levels', toml: '16', text: '16', value: 16 },
  { path: 'limits.max_channel_length', toml: '300', text: '300', value: 300 },
  { path: 'limits.max_message_size', toml: '16777216', text: '16777216', value: 16777216 },
  { path: 'limits.max_frame_size', toml: '1024', text: '1024', value: 1024 },
  { path: 'limits.memory_limit', toml: '1073741824', text: '1073741824', value: 1_073_741_824 },
  { path: 'limits.max_history_bytes', toml: '4096', text: '4096', value: 4096 },
  { path: 'limits.max_outbound_bytes', toml: '1024', text: '1024', value: 1024 },
  { path: 'limits.slow_consumer_policy', toml: '"disconnect"', text: 'disconnect', value: 'disconnect' },
  { path: 'limits.max_publisher_pause_ms', toml: '2000', text: '2000', value: 2000 },
  { path: 'limits.publisher_pause_percent', toml: '25', text: '25', value: 25 },
  { path: 'presence.max_channels_per_connection', toml: '7', text: '7', value: 7 },
  { path: 'presence.max_data_bytes', toml: '1024', text: '1024', value: 1024 },
  { path: 'heartbeat.interval_ms', toml: '10', text: '10', value: 10 },
  { path: 'heartbeat.timeout_ms', toml: '90000', text: '90000', value: 90000 },
  { path: 'metrics.enabled', toml: 'false', text: '0', value: false },
  { path: 'metrics.host', toml: '"::"', text: '::', value: '::' },
  { path: 'metrics.port', toml: '0', text: '0', value: 0 },
  { path: 'log.level', toml: '"debug"', text: 'debug', value: 'debug' },
  { path: 'log.report_interval_ms', toml: '0', text: '0', value: 0 },
  { path: 'limits.messages_per_second', toml: '100', text: '100', value: 100 },
  { path: 'limits.bytes_per_second', toml: '65536', text: '65536', value: 65536 },
  { path: 'limits.connections_per_second_per_ip', toml: '5', text: '5', value: 5 },
  { path: 'limits.max_connections_per_ip', toml: '20', text: '20', value: 20 },
  { path: 'limits.rate_limit_disconnect_after', toml: '1', text: '1', value: 1 },
  { path: 'limits.max_pending_input_bytes', toml: '1048576', text: '1048576', value: 1048576 },
  { path: 'limits.handshake_timeout_ms', toml: '2500', text: '2500', value: 2500 },
  { path: 'limits.max_http_body_bytes', toml: '65536', text: '65536', value: 65536 },
  { path: 'limits.http_body_timeout_ms', toml: '5000', text: '5000', value: 5000 },
  {
    path: 'auth.enabled',
    toml: 'true',
    text: 'true',
    value: true,
    needs: [{ path: 'auth.jwt_hmac_secret', toml: `"${SECRET}"`, text: SECRET, value: SECRET }],
  },
  { path: 'auth.jwt_hmac_secret', toml: `"${SECRET}"`, text: SECRET, value: SECRET },
  { path: 'auth.jwt_public_key', toml: '"/jwt.pem"', text: '/jwt.pem', value: '/jwt.pem' },
  {
    path: 'auth.jwks_url',
    toml: '"https://id.example.com/.well-known/jwks.json"',
    text: 'https://id.example.com/.well-known/jwks.json',
    value: 'https://id.example.com/.well-known/jwks.json',
  },
  { path: 'auth.jwks_cache_ms', toml: '1000', text: '1000', value: 1000 },
  { path: 'auth.jwt_audience', toml: '"pulse"', text: 'pulse', value: 'pulse' },
  {
    path: 'auth.jwt_issuer',
    toml: '"https://id.example.com/"',
    text: 'https://id.example.com/',
    value: 'https://id.example.com/',
  },
  { path: 'auth.jwt_mqtt_password', toml: 'false', text: 'false', value: false },
  {
    path: 'auth.api_keys',
    toml: `["${API_KEY}", "${API_KEY}-2"]`,
    text: `${API_KEY}, ${API_KEY}-2`,
    value: [API_KEY, `${API_KEY}-2`],
  },
  ...CERT,
  { path: 'tls.client_auth', toml: '"optional"', text: 'optional', value: 'optional', needs: [CLIENT_CA] },
  CLIENT_CA,
  {
    path: 'tls.use_identity_as_username',
    toml: 'true',
    text: 'true',
    value: true,
    needs: [CLIENT_CA, { path: 'tls.client_auth', toml: '"required"', text: 'required', value: 'required' }],
  },
  {
    path: 'hooks.connect_url',
    toml: '"http://auth:8000/c"',
    text: 'http://auth:8000/c',
    value: 'http://auth:8000/c',
  },
  {
    path: 'hooks.subscribe_url',
    toml: '"https://a.example/s"',
    text: 'https://a.example/s',
    value: 'https://a.example/s',
  },
  {
    path: 'hooks.publish_url',
    toml: '"https://a.example/p"',
    text: 'https://a.example/p',
    value: 'https://a.example/p',
  },
  { path: 'hooks.timeout_ms', toml: '60000', text: '60000', value: 60000 },
  { path: 'hooks.cache_ttl_ms', toml: '0', text: '0', value: 0 },
  { path: 'cluster.engine', toml: '"nats"', text: 'nats', value: 'nats' },
  {
    path: 'cluster.url',
    toml: '"nats://10.0.0.1:4222, nats://10.0.0.2:4222"',
    text: 'nats://10.0.0.1:4222, nats://10.0.0.2:4222',
    value: 'nats://10.0.0.1:4222, nats://10.0.0.2:4222',
  },
  { path: 'cluster.prefix', toml: '"turbine"', text: 'turbine', value: 'turbine' },
  { path: 'cluster.node_name', toml: '"node-a"', text: 'node-a', value: 'node-a' },
  { path: 'cluster.required', toml: 'true', text: 'true', value: true },
  { path: 'cluster.presence_ttl_ms', toml: '3000', text: '3000', value: 3000 },
];

/** A key with the keys it needs. */
const withNeeds = (k: KeyValue & { needs?: KeyValue[] }): KeyValue[] => [k, ...(k.needs ?? [])];

/** The expected config when `keys` are set. */
function withKeys(base: SpecConfig, keys: readonly KeyValue[]): SpecConfig {
  return keys.reduce((c, k) => withKey(c, k.path, k.value), base);
}

/** A TOML document setting `keys`, one [section] table each. */
function tomlOf(keys: readonly KeyValue[]): string {
  const sections = new Map<string, string[]>();
  for (const k of keys) {
    const [section = '', key] = k.path.split('.');
    sections.set(section, [...(sections.get(section) ?? []), `${key} = ${k.toml}`]);
  }
  return [...sections].map(([section, lines]) => `[${section}]\n${lines.join('\n')}\n`).join('\n');
}

const envName = (path: string) => `PULSE_${path.replace('.', '_').toUpperCase()}`;
const flagName = (path: string) => `--${path.replace('.', '-').replaceAll('_', '-')}`;

describe('config: defaults', () => {
  test('PulseConfig has exactly the shape of the design', () => {
    assert.equal(shapeMatchesSpec, true);
  });

  test('no file, no env, no flags gives the documented defaults', () => {
    const result = run();
    assert.deepEqual(result.config, DEFAULTS);
    assert.equal(result.configFile, undefined);
  });

  test('defaultConfig() equals the documented defaults and is a fresh copy each time', () => {
    const a = defaultConfig();
    assert.deepEqual(a, DEFAULTS);
    a.server.port = 1;
    assert.equal(defaultConfig().server.port, 8080);
  });

  test('EVERY_KEY in this test covers every key of the config', () => {
    const paths = Object.entries(DEFAULTS)
      .filter(([, keys]) => !Array.isArray(keys))
      .flatMap(([s, keys]) => Object.keys(keys).map((k) => `${s}.${k}`))
      .filter((path) => !TABLE_PATHS.includes(path));
    assert.deepEqual(EVERY_KEY.map((k) => k.path).sort(), paths.sort());
  });
});

describe('config: TOML file', () => {
  test("the seed's example pulse.toml loads unchanged from the working directory", () => {
    const dir = tempDir();
    copyFileSync(SEED_TOML, join(dir, 'pulse.toml'));
    const result = run([], {}, dir);
    assert.equal(result.configFile, join(dir, 'pulse.toml'));
    assert.deepEqual(result.config, withKey(DEFAULTS, 'server.host', '0.0.0.0'));
  });

  test("the seed's example applies its values (checked with a changed copy via --config)", () => {
    const dir = tempDir();
    const text = readFileSync(SEED_TOML, 'utf8')
      .replace('port = 8080', 'port = 8181')
      .replace('max_connections = 100000', 'max_connections = 42')
      .replace('interval_ms = 30000', 'interval_ms = 1000')
      .replace('enabled = true', 'enabled = false');
    writeFileSync(join(dir, 'seed-changed.toml'), text);
    const c = config(['--config', 'seed-changed.toml'], {}, dir);
    assert.equal(c.server.host, '0.0.0.0');
    assert.equal(c.server.port, 8181);
    assert.equal(c.limits.max_connections, 42);
    assert.equal(c.heartbeat.interval_ms, 1000);
    assert.equal(c.metrics.enabled, false);
    assert.equal(c.metrics.port, 9090);
  });

  test('every key can be set in TOML', () => {
    for (const k of EVERY_KEY) {
      const c = config([], {}, dirWithToml(tomlOf(withNeeds(k))));
      assert.deepEqual(c, withKeys(DEFAULTS, withNeeds(k)), k.path);
    }
  });

  test('--config FILE and PULSE_CONFIG pick the file; --config wins; relative paths use cwd', () => {
    const dir = dirWithToml('[server]\nport = 1001\n');
    mkdirSync(join(dir, 'etc'));
    writeFileSync(join(dir, 'etc', 'a.toml'), '[server]\nport = 1002\n');
    writeFileSync(join(dir, 'etc', 'b.toml'), '[server]\nport = 1003\n');
    assert.equal(config([], {}, dir).server.port, 1001);
    assert.equal(config([], { PULSE_CONFIG: 'etc/a.toml' }, dir).server.port, 1002);
    assert.equal(config(['--config', 'etc/b.toml'], { PULSE_CONFIG: 'etc/a.toml' }, dir).server.port, 1003);
    assert.equal(config([`--config=${join(dir, 'etc', 'b.toml')}`], {}, tempDir()).server.port, 1003);
    assert.equal(run(['--config', 'etc/a.toml'], {}, dir).configFile, join(dir, 'etc', 'a.toml'));
  });

  test('an empty PULSE_CONFIG counts as unset', () => {
    assert.equal(config([], { PULSE_CONFIG: '' }, dirWithToml('[server]\nport = 1001\n')).server.port, 1001);
  });

  test('a missing or unreadable --config / PULSE_CONFIG file is an error naming it and its source', () => {
    assert.equal(
      errorOf(['--config', 'nope.toml']),
      'config error: config file "nope.toml" not found (from flag --config)',
    );
    assert.equal(
      errorOf([], { PULSE_CONFIG: '/no/such/pulse.toml' }),
      'config error: config file "/no/such/pulse.toml" not found (from env PULSE_CONFIG)',
    );
    const dir = tempDir();
    mkdirSync(join(dir, 'conf.d'));
    assert.match(
      errorOf(['--config', 'conf.d'], {}, dir),
      /config file "conf\.d" is a directory \(from flag --config\)/,
    );
    assert.equal(errorOf(['--config=']), 'config error: flag --config needs a file name');
    assert.match(errorOf(['--config']), /flag --config needs a value/);
  });

  test('a TOML syntax error names the file, line and column on one line', () => {
    const message = errorOf([], {}, dirWithToml('[server]\nhost = "0.0.0.0"\nport = = 8080\n'));
    assert.match(message, /^config error: invalid TOML in pulse\.toml at line 3, column \d+: \S/);
    const dir = tempDir();
    writeFileSync(join(dir, 'bad.toml'), '[limits\nmax_connections = 1\n');
    assert.match(
      errorOf(['--config', 'bad.toml'], {}, dir),
      /invalid TOML in bad\.toml at line 1, column \d+/,
    );
  });

  test('unknown keys and sections are errors that suggest the closest name', () => {
    assert.equal(
      errorOf([], {}, dirWithToml('[limits]\nmax_conections = 5\n')),
      'config error: unknown key "limits.max_conections" in pulse.toml (did you mean "limits.max_connections"?)',
    );
    assert.equal(
      errorOf([], {}, dirWithToml('[limitz]\nmax_connections = 5\n')),
      'config error: unknown section [limitz] in pulse.toml (did you mean [limits]?)',
    );
    assert.equal(
      errorOf([], {}, dirWithToml('port = 8080\n')),
      'config error: unknown key "port" in pulse.toml (did you mean "server.port"?)',
    );
    assert.match(
      errorOf([], {}, dirWithToml('[storge]\nengine = "memory"\n')),
      /unknown section \[storge\] in pulse\.toml \(did you mean \[storage\]\?\)/,
    );
    assert.equal(
      errorOf([], {}, dirWithToml('[server.tls]\nenabled = true\n')),
      'config error: mqtt.tls = true needs tls.certificate_chain and tls.private_key (PEM files of the server certificate chain and its key), got mqtt.tls = true (from pulse.toml [server.tls] enabled), tls.certificate_chain = "" (default) and tls.private_key = "" (default)',
    );
    const dir = tempDir();
    writeFileSync(join(dir, 'my.toml'), '[server]\nprot = 1\n');
    assert.match(
      errorOf(['--config', 'my.toml'], {}, dir),
      /unknown key "server\.prot" in my\.toml \(did you mean "server\.port"\?\)/,
    );
  });

  test('a section that is not a table is an error', () => {
    assert.equal(
      errorOf([], {}, dirWithToml('server = 5\n')),
      'config error: [server] in pulse.toml must be a table, got 5',
    );
  });

  test('wrong TOML types are errors naming key, value and file', () => {
    const cases: [string, RegExp][] = [
      [
        '[server]\nport = "8080"',
        /^config error: server\.port must be an integer between 0 and 65535, got "8080" \(from pulse\.toml\)$/,
      ],
      [
        '[server]\nport = 8080.0',
        /server\.port must be an integer between 0 and 65535, got 8080\.0 \(from pulse\.toml\)/,
      ],
      ['[limits]\nmax_connections = 1.5', /limits\.max_connections must be an integer >= 1, got 1\.5/],
      [
        '[transport]\nwebsocket = "yes"',
        /transport\.websocket must be true or false, got "yes" \(from pulse\.toml\)/,
      ],
      ['[server]\nhost = 127', /server\.host must be a non-empty string, got 127/],
      ['[server]\nhost = ["a"]', /server\.host must be a non-empty string, got an array/],
      [
        '[log]\nlevel = "loud"',
        /log\.level must be one of "trace", "debug", "info", "warn", "error", "fatal", "silent", got "loud"/,
      ],
      [
        '[limits]\nslow_consumer_policy = "slow"',
        /limits\.slow_consumer_policy must be one of "drop", "disconnect", got "slow"/,
      ],
    ];
    for (const [text, pattern] of cases) assert.match(errorOf([], {}, dirWithToml(`${text}\n`)), pattern);
  });
});

describe('config: [[history]] tables', () => {
  const historyError = (text: string) => errorOf([], {}, dirWithToml(text));

  test('are read in order, with defaults for size and ttl_ms', () => {
    const c = config(
      [],
      {},
      dirWithToml(
        '[server]\nport = 9000\n\n[[history]]\npattern = "chat:*"\nsize = 1000\nttl_ms = 86400000\n\n' +
          '[[history]]\npattern = "sensors/+/temp"\n\n[[history]]\npattern = "logs/#"\nsize = 1\nttl_ms = 0\n',
      ),
    );
    assert.deepEqual(c.history, [
      { pattern: 'chat:*', size: 1000, ttl_ms: 86_400_000, max_bytes: 4_194_304 },
      { pattern: 'sensors/+/temp', size: 100, ttl_ms: 0, max_bytes: 4_194_304 },
      { pattern: 'logs/#', size: 1, ttl_ms: 0, max_bytes: 4_194_304 },
    ]);
    assert.equal(c.server.port, 9000);
    assert.deepEqual({ ...c, history: [] }, withKey(DEFAULTS, 'server.port', 9000));
  });

  test('an inline array of tables works too; env and flags leave the tables alone', () => {
    const dir = dirWithToml('history = [{ pattern = "a" }, { pattern = "b", size = 5 }]\n');
    const c = config(['--port', '1'], { PULSE_LOG: 'warn' }, dir);
    assert.deepEqual(c.history, [
      { pattern: 'a', size: 100, ttl_ms: 0, max_bytes: 4_194_304 },
      { pattern: 'b', size: 5, ttl_ms: 0, max_bytes: 4_194_304 },
    ]);
    assert.deepEqual(config([], {}, dirWithToml('history = []\n')).history, []);
  });

  test('defaultConfig() gives a fresh empty list each time', () => {
    const a = defaultConfig();
    a.history.push({ pattern: 'x', size: 1, ttl_ms: 0 });
    assert.deepEqual(defaultConfig().history, []);
  });

  test('errors name history[N].key and the file', () => {
    const cases: [string, string][] = [
      [
        '[[history]]\npattern = "a"\nsise = 5\n',
        'config error: unknown key "history[0].sise" in pulse.toml (did you mean "history[0].size"?)',
      ],
      [
        '[[history]]\npattern = "a"\n[[history]]\nsize = 5\n',
        'config error: history[1].pattern is required (the channels this table applies to) (from pulse.toml)',
      ],
      [
        '[[history]]\npattern = "a"\nsize = "5"\n',
        'config error: history[0].size must be an integer between 1 and 1000000, got "5" (from pulse.toml)',
      ],
      [
        '[[history]]\npattern = "a"\nsize = 0\n',
        'config error: history[0].size must be an integer between 1 and 1000000, got 0 (from pulse.toml)',
      ],
      [
        '[[history]]\npattern = "a"\nsize = 1000001\n',
        'config error: history[0].size must be an integer between 1 and 1000000, got 1000001 (from pulse.toml)',
      ],
      [
        '[[history]]\npattern = "a"\nttl_ms = -1\n',
        'config error: history[0].ttl_ms must be an integer between 0 and 2147483647, got -1 (from pulse.toml)',
      ],
      [
        '[[history]]\npattern = "a"\nttl_ms = 1.5\n',
        'config error: history[0].ttl_ms must be an integer between 0 and 2147483647, got 1.5 (from pulse.toml)',
      ],
      [
        '[[history]]\npattern = 5\n',
        'config error: history[0].pattern must be a non-empty string, got 5 (from pulse.toml)',
      ],
      [
        '[[history]]\npattern = ""\n',
        'config error: history[0].pattern must be a non-empty string, got "" (from pulse.toml)',
      ],
      [
        '[[history]]\npattern = "a/#/b"\n',
        'config error: history[0].pattern may use "#" only as its last level, got "a/#/b" (from pulse.toml)',
      ],
      [
        '[[history]]\npattern = "$SYS/#"\n',
        'config error: history[0].pattern must not start with "$" (system channels keep no history), got "$SYS/#" (from pulse.toml)',
      ],
      [
        '[history]\npattern = "a"\n',
        'config error: history must be an array of tables (write [[history]], not [history]), got a table (from pulse.toml)',
      ],
      [
        'history = 5\n',
        'config error: history must be an array of tables (write [[history]], not [history]), got 5 (from pulse.toml)',
      ],
      ['history = ["a"]\n', 'config error: history[0] must be a table, got "a" (from pulse.toml)'],
    ];
    for (const [text, message] of cases) assert.equal(historyError(text), message, text);
  });

  test('the file is named as given; a near-miss table name suggests [[history]]', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'h.toml'), '[[history]]\npattern = "a/#/b"\n');
    assert.match(errorOf(['--config', 'h.toml'], {}, dir), /history\[0\]\.pattern .* \(from h\.toml\)$/);
    assert.match(
      historyError('[[histroy]]\npattern = "a"\n'),
      /unknown key "histroy" in pulse\.toml \(did you mean \[\[history\]\]\?\)/,
    );
  });

  test('cannot be set from the environment', () => {
    assert.equal(
      errorOf([], { PULSE_HISTORY_PATTERN: 'chat:*' }),
      'config error: history cannot be set from the environment (env PULSE_HISTORY_PATTERN): write [[history]] tables in the config file',
    );
    assert.match(errorOf(['--history-pattern', 'x']), /unknown flag --history-pattern/);
  });
});

describe('config: environment', () => {
  test('every key has PULSE_<SECTION>_<KEY>', () => {
    for (const k of EVERY_KEY) {
      const env = Object.fromEntries(withNeeds(k).map((n) => [envName(n.path), n.text]));
      assert.deepEqual(config([], env), withKeys(DEFAULTS, withNeeds(k)), k.path);
    }
  });

  test('short forms: PULSE_HOST, PULSE_PORT, PULSE_TCP_PORT, PULSE_MQTT_PORT, PULSE_METRICS_PORT, PULSE_LOG', () => {
    const cases: [string, string, string, unknown][] = [
      ['PULSE_HOST', '0.0.0.0', 'server.host', '0.0.0.0'],
      ['PULSE_PORT', '9000', 'server.port', 9000],
      ['PULSE_TCP_PORT', '0', 'transport.tcp_port', 0],
      ['PULSE_MQTT_PORT', '1999', 'mqtt.port', 1999],
      ['PULSE_METRICS_PORT', '9999', 'metrics.port', 9999],
      ['PULSE_LOG', 'warn', 'log.level', 'warn'],
    ];
    for (const [name, text, path, value] of cases) {
      assert.deepEqual(config([], { [name]: text }), withKey(DEFAULTS, path, value), name);
    }
  });

  test('PULSE_<SECTION>_<KEY> beats its short form; short forms beat seed aliases', () => {
    assert.equal(config([], { PULSE_PORT: '1', PULSE_SERVER_PORT: '2' }).server.port, 2);
    assert.equal(config([], { PULSE_LOG: 'warn', PULSE_LOG_LEVEL: 'error' }).log.level, 'error');
    assert.equal(config([], { PULSE_LOG: 'warn', MQTT_RS_LOG: 'debug' }).log.level, 'warn');
    const c = config([], { PULSE_MQTT_PORT: '2000', MQTT_RS_BIND: '0.0.0.0:1999' });
    assert.deepEqual(listener(c), { host: '0.0.0.0', port: 2000 });
  });

  test('booleans accept true/false, 1/0, yes/no in any case', () => {
    const cases: [string, boolean][] = [
      ['true', true],
      ['TRUE', true],
      ['1', true],
      ['yes', true],
      ['false', false],
      ['0', false],
      ['No', false],
    ];
    for (const [text, value] of cases) {
      assert.equal(config([], { PULSE_TRANSPORT_WEBSOCKET: text }).transport.websocket, value, text);
    }
    assert.equal(
      errorOf([], { PULSE_METRICS_ENABLED: 'maybe' }),
      'config error: metrics.enabled must be a boolean (true/false, 1/0 or yes/no), got "maybe" (from env PULSE_METRICS_ENABLED)',
    );
  });

  test('integers are decimal digits only', () => {
    assert.equal(
      errorOf([], { PULSE_LIMITS_MAX_CONNECTIONS: 'abc' }),
      'config error: limits.max_connections must be an integer >= 1, got "abc" (from env PULSE_LIMITS_MAX_CONNECTIONS)',
    );
    for (const text of ['+5', '-1', '1e3', '0x10', ' 5', '5.0', '']) {
      const message = errorOf([], { PULSE_LIMITS_MAX_CHANNELS: text });
      assert.ok(
        message.includes(
          `limits.max_channels must be an integer >= 1, got ${JSON.stringify(text)} (from env`,
        ),
        message,
      );
    }
    assert.equal(config([], { PULSE_LIMITS_MAX_CHANNELS: '007' }).limits.max_channels, 7);
  });

  test('an unknown key under a Pulse section is an error that suggests the right name', () => {
    assert.equal(
      errorOf([], { PULSE_LIMITS_MAX_CONECTIONS: '5' }),
      'config error: unknown key "limits.max_conections" (from env PULSE_LIMITS_MAX_CONECTIONS) (did you mean PULSE_LIMITS_MAX_CONNECTIONS?)',
    );
    assert.match(
      errorOf([], { PULSE_SERVER_FOO: '1' }),
      /unknown key "server\.foo" \(from env PULSE_SERVER_FOO\)/,
    );
    assert.match(
      errorOf([], { PULSE_HEARTBEAT_INTERVAL: '5' }),
      /did you mean PULSE_HEARTBEAT_INTERVAL_MS\?/,
    );
  });

  test("PulseAudio's variables and other non-Pulse variables are ignored", () => {
    const env: Env = {
      PULSE_SERVER: 'unix:/run/user/1000/pulse/native',
      PULSE_SINK: 'alsa_output.pci',
      PULSE_SOURCE: 'alsa_input.pci',
      PULSE_COOKIE: '/home/me/.config/pulse/cookie',
      PULSE_RUNTIME_PATH: '/run/user/1000/pulse',
      PULSE_STATE_PATH: '/home/me/.local/state/pulse',
      PULSE_CONFIG_PATH: '/home/me/.config/pulse',
      PULSE_CLIENTCONFIG: '/etc/pulse/client.conf',
      PULSE_PROP_media_role: 'music',
      PULSE_LATENCY_MSEC: '60',
      PULSE_LOG_COLORS: '1',
      PULSE_LOG_TIME: '1',
      PULSE_LOG_BACKTRACE: '5',
      PULSE_METRICS: 'x',
      PULSE_: 'x',
      HOME: '/home/me',
      PORT: '1234',
      UNSET: undefined,
    };
    assert.deepEqual(config([], env), DEFAULTS);
  });

  test('an undefined entry in env counts as unset', () => {
    assert.deepEqual(config([], { PULSE_PORT: undefined, PULSE_SERVER_PORT: undefined }), DEFAULTS);
  });
});

describe('config: flags', () => {
  test('every key has --<section>-<key>, as --flag value and --flag=value', () => {
    for (const k of EVERY_KEY) {
      const expected = withKeys(DEFAULTS, withNeeds(k));
      const separate = withNeeds(k).flatMap((n) => [flagName(n.path), n.text]);
      const joined = withNeeds(k).map((n) => `${flagName(n.path)}=${n.text}`);
      assert.deepEqual(config(separate), expected, k.path);
      assert.deepEqual(config(joined), expected, `${k.path} with =`);
    }
  });

  test('short forms: --host, --port, --tcp-port, --mqtt-port, --metrics-port, --log', () => {
    const c = config([
      '--host',
      '0.0.0.0',
      '--port=9000',
      '--tcp-port',
      '0',
      '--mqtt-port',
      '1999',
      '--metrics-port',
      '9999',
      '--log',
      'trace',
    ]);
    assert.equal(c.server.host, '0.0.0.0');
    assert.equal(c.server.port, 9000);
    assert.equal(c.transport.tcp_port, 0);
    assert.equal(c.mqtt.port, 1999);
    assert.equal(c.metrics.port, 9999);
    assert.equal(c.log.level, 'trace');
  });

  test('a flag given twice: the later one wins', () => {
    assert.equal(config(['--port', '1', '--server-port', '2', '--port', '3']).server.port, 3);
  });

  test('boolean flags: bare means true, or take a following boolean, or =value', () => {
    const off = ['--metrics-enabled', 'false'];
    assert.equal(config(off).metrics.enabled, false);
    assert.equal(config([...off, '--metrics-enabled']).metrics.enabled, true);
    assert.equal(config(['--metrics-enabled=no']).metrics.enabled, false);
    assert.equal(config(['--transport-websocket', '0', '--port', '1']).transport.websocket, false);
    const c = config(['--transport-websocket=false', '--transport-websocket', '--port', '7']);
    assert.equal(c.transport.websocket, true);
    assert.equal(c.server.port, 7);
  });

  test('unknown flags are errors that suggest the closest flag', () => {
    assert.equal(errorOf(['--prot', '8080']), 'config error: unknown flag --prot (did you mean --port?)');
    assert.equal(
      errorOf(['--limits-max-conections=5']),
      'config error: unknown flag --limits-max-conections (did you mean --limits-max-connections?)',
    );
    assert.match(errorOf(['--frobnicate']), /^config error: unknown flag --frobnicate$/);
    assert.match(errorOf(['-p', '80']), /unknown flag -p/);
  });

  test('a missing value and a positional argument are errors', () => {
    assert.equal(errorOf(['--port']), 'config error: flag --port needs a value (--port PORT)');
    assert.match(errorOf(['--host', '--port', '1']), /flag --host needs a value/);
    assert.match(errorOf(['--bind']), /flag --bind needs a value \(--bind HOST:PORT\)/);
    assert.match(errorOf(['serve']), /unexpected argument "serve"/);
    assert.match(errorOf(['--port', '1', '2']), /unexpected argument "2"/);
    assert.match(errorOf(['--', 'x']), /unexpected argument "x"/);
  });

  test('flag values are validated and the error names the flag', () => {
    assert.equal(
      errorOf(['--limits-max-connections', 'abc']),
      'config error: limits.max_connections must be an integer >= 1, got "abc" (from flag --limits-max-connections)',
    );
    assert.match(
      errorOf(['--port=70000']),
      /server\.port must be an integer between 0 and 65535, got "70000" \(from flag --port\)/,
    );
    assert.match(
      errorOf(['--log', 'verbose']),
      /log\.level must be one of .*got "verbose" \(from flag --log\)/,
    );
  });
});

describe('config: precedence', () => {
  test('file < env < flag for the same key', () => {
    const dir = dirWithToml('[limits]\nmax_connections = 10\nmax_channels = 11\n');
    assert.equal(config([], {}, dir).limits.max_connections, 10);
    const env = { PULSE_LIMITS_MAX_CONNECTIONS: '20' };
    assert.equal(config([], env, dir).limits.max_connections, 20);
    const c = config(['--limits-max-connections', '30'], env, dir);
    assert.equal(c.limits.max_connections, 30);
    assert.equal(c.limits.max_channels, 11, 'keys no later source sets keep the file value');
  });

  test('file < env < flag through the short forms too', () => {
    const dir = dirWithToml('[server]\nport = 1000\n');
    assert.equal(config([], { PULSE_PORT: '2000' }, dir).server.port, 2000);
    assert.equal(config(['--port', '3000'], { PULSE_PORT: '2000' }, dir).server.port, 3000);
  });

  test('an invalid value is an error even if a later source overrides it', () => {
    assert.match(
      errorOf(['--port', '1'], { PULSE_PORT: 'x' }),
      /server\.port must be an integer .* \(from env PULSE_PORT\)/,
    );
  });
});

describe('config: seed aliases', () => {
  test('--bind HOST:PORT and MQTT_RS_BIND set the MQTT listener', () => {
    assert.deepEqual(listener(config(['--bind', '0.0.0.0:1884'])), { host: '0.0.0.0', port: 1884 });
    assert.deepEqual(listener(config(['--bind=[::1]:1885'])), { host: '::1', port: 1885 });
    assert.deepEqual(listener(config([], { MQTT_RS_BIND: 'broker.local:1886' })), {
      host: 'broker.local',
      port: 1886,
    });
    assert.deepEqual(listener(config([], { MQTT_RS_BIND: '[::]:0' })), { host: '::', port: 0 });
    assert.deepEqual(listener(config(['--bind', '0.0.0.0:1884'], { MQTT_RS_BIND: '1.2.3.4:1' })), {
      host: '0.0.0.0',
      port: 1884,
    });
  });

  test('--metrics-bind HOST:PORT and MQTT_RS_METRICS_BIND set the metrics listener', () => {
    const flag = config(['--metrics-bind', '0.0.0.0:9100']).metrics;
    assert.deepEqual(flag, { enabled: true, host: '0.0.0.0', port: 9100 });
    const env = config([], { MQTT_RS_METRICS_BIND: '[::1]:9101' }).metrics;
    assert.deepEqual(env, { enabled: true, host: '::1', port: 9101 });
  });

  test('--shutdown-drain-timeout-ms and MQTT_RS_SHUTDOWN_DRAIN_TIMEOUT_MS', () => {
    assert.equal(config(['--shutdown-drain-timeout-ms', '250']).server.shutdown_drain_timeout_ms, 250);
    const env = { MQTT_RS_SHUTDOWN_DRAIN_TIMEOUT_MS: '750' };
    assert.equal(config([], env).server.shutdown_drain_timeout_ms, 750);
    assert.equal(
      config([], { ...env, PULSE_SERVER_SHUTDOWN_DRAIN_TIMEOUT_MS: '900' }).server.shutdown_drain_timeout_ms,
      900,
    );
  });

  test('the seed storage flags: --storage-engine, --sqlite PATH, --wal-dir, --storage-commit-policy', () => {
    const flags = config([
      '--storage-engine',
      'wal',
      '--wal-dir',
      '/var/wal',
      '--storage-commit-policy',
      'fast',
    ]);
    assert.equal(flags.storage.engine, 'wal');
    assert.equal(flags.storage.wal_dir, '/var/wal');
    assert.equal(flags.storage.commit_policy, 'fast');
    const sqlite = config(['--sqlite', 'state/broker.db']).storage;
    assert.equal(sqlite.engine, 'sqlite');
    assert.equal(sqlite.path, 'state/broker.db');
    const env = config([], { MQTT_RS_SQLITE: 'e.db', MQTT_RS_STORAGE_COMMIT_POLICY: 'strict' }).storage;
    assert.deepEqual([env.engine, env.path, env.commit_policy], ['sqlite', 'e.db', 'strict']);
    assert.match(
      errorOf(['--storage-engine', 'mysql']),
      /storage\.engine must be one of "memory", "sqlite", "wal"/,
    );
    assert.match(errorOf(['--sqlite', '']), /storage\.engine \+ storage\.path: expected a file path/);
  });

  test('MQTT_RS_LOG sets log.level', () => {
    assert.equal(config([], { MQTT_RS_LOG: 'debug' }).log.level, 'debug');
  });

  test('a malformed HOST:PORT is an error naming the alias', () => {
    assert.equal(
      errorOf(['--bind', '1883']),
      'config error: mqtt.host + mqtt.port: expected HOST:PORT (e.g. 0.0.0.0:1883, or [::1]:1883 for IPv6), got "1883" (from flag --bind)',
    );
    assert.match(errorOf(['--bind', '::1:1883']), /expected HOST:PORT .*got "::1:1883"/);
    assert.match(errorOf(['--bind', ':1883']), /expected HOST:PORT/);
    assert.match(
      errorOf([], { MQTT_RS_METRICS_BIND: 'localhost' }),
      /metrics\.host \+ metrics\.port: expected HOST:PORT.*\(from env MQTT_RS_METRICS_BIND\)/,
    );
    assert.equal(
      errorOf(['--bind', '0.0.0.0:abc']),
      'config error: mqtt.port must be an integer between 0 and 65535, got "abc" (from flag --bind)',
    );
    assert.match(
      errorOf(['--metrics-bind', '[::1]:70000']),
      /metrics\.port must be .*got "70000" \(from flag --metrics-bind\)/,
    );
  });
});

describe('config: value checks', () => {
  test('out-of-range values are errors naming the key, the range, the value and the source', () => {
    const cases: [string, string, RegExp][] = [
      ['server.port', '65536', /server\.port must be an integer between 0 and 65535, got "65536"/],
      ['server.shutdown_drain_timeout_ms', '600001', /must be an integer between 0 and 600000/],
      ['server.workers', '257', /server\.workers must be an integer between 0 and 256, got "257"/],
      ['transport.tcp_port', '99999', /transport\.tcp_port must be an integer between 0 and 65535/],
      ['limits.max_connections', '0', /limits\.max_connections must be an integer >= 1, got "0"/],
      ['limits.max_channels', '0', /limits\.max_channels must be an integer >= 1/],
      ['limits.max_subscriptions_per_connection', '0', /must be an integer >= 1/],
      ['limits.max_channel_length', '0', /limits\.max_channel_length must be an integer between 1 and 65535/],
      [
        'limits.max_channel_length',
        '65536',
        /limits\.max_channel_length must be an integer between 1 and 65535/,
      ],
      [
        'limits.max_message_size',
        '16777217',
        /limits\.max_message_size must be an integer between 1 and 16777216/,
      ],
      ['limits.max_message_size', '0', /limits\.max_message_size must be an integer between 1 and 16777216/],
      [
        'limits.max_frame_size',
        '1023',
        /limits\.max_frame_size must be an integer between 1024 and 16777216/,
      ],
      ['limits.max_outbound_bytes', '1023', /limits\.max_outbound_bytes must be an integer >= 1024/],
      ['heartbeat.interval_ms', '9', /heartbeat\.interval_ms must be an integer between 10 and 2147483647/],
      ['heartbeat.timeout_ms', '9', /heartbeat\.timeout_ms must be an integer between 10 and/],
      ['metrics.port', '65536', /metrics\.port must be an integer between 0 and 65535/],
      ['server.host', '', /server\.host must be a non-empty string, got ""/],
      ['metrics.host', '', /metrics\.host must be a non-empty string/],
      ['transport.ws_path', 'ws', /transport\.ws_path must start with "\/", got "ws"/],
    ];
    for (const [path, text, pattern] of cases) {
      const message = errorOf([`${flagName(path)}=${text}`]);
      assert.match(message, pattern, path);
      assert.match(message, new RegExp(`\\(from flag ${flagName(path)}\\)$`), path);
    }
    assert.match(
      errorOf([], {}, dirWithToml('[server]\nport = 65536\n')),
      /server\.port must be an integer between 0 and 65535, got 65536 \(from pulse\.toml\)/,
    );
    assert.match(
      errorOf([], {}, dirWithToml('[server]\nport = -1\n')),
      /server\.port must be an integer between 0 and 65535, got -1 \(from pulse\.toml\)/,
    );
    assert.match(
      errorOf([], {}, dirWithToml('[limits]\nmax_connections = 99999999999999999999\n')),
      /must be an integer/,
    );
  });

  test('an empty mqtt.host is allowed (it means server.host)', () => {
    assert.equal(config([], {}, dirWithToml('[mqtt]\nhost = ""\n')).mqtt.host, '');
    assert.equal(config(['--mqtt-host', '']).mqtt.host, '');
  });

  test('heartbeat.timeout_ms must exceed heartbeat.interval_ms after merging', () => {
    assert.equal(
      errorOf([], { PULSE_HEARTBEAT_TIMEOUT_MS: '1000' }),
      'config error: heartbeat.timeout_ms must be greater than heartbeat.interval_ms, got heartbeat.timeout_ms = 1000 (from env PULSE_HEARTBEAT_TIMEOUT_MS) and heartbeat.interval_ms = 30000 (default)',
    );
    const equal = errorOf(['--heartbeat-interval-ms', '60000']);
    assert.match(
      equal,
      /heartbeat\.timeout_ms = 60000 \(default\) and heartbeat\.interval_ms = 60000 \(from flag --heartbeat-interval-ms\)/,
    );
    const dir = dirWithToml('[heartbeat]\ninterval_ms = 100\ntimeout_ms = 200\n');
    assert.deepEqual(config([], {}, dir).heartbeat, { interval_ms: 100, timeout_ms: 200 });
    assert.match(
      errorOf(['--heartbeat-timeout-ms', '100'], {}, dir),
      /from flag --heartbeat-timeout-ms.*from pulse\.toml/,
    );
    assert.deepEqual(config(['--heartbeat-interval-ms', '100', '--heartbeat-timeout-ms', '101']).heartbeat, {
      interval_ms: 100,
      timeout_ms: 101,
    });
  });

  test('transport.webtransport = true is rejected from every source', () => {
    const fromFile = errorOf([], {}, dirWithToml('[transport]\nwebtransport = true\n'));
    assert.match(
      fromFile,
      /^config error: transport\.webtransport: WebTransport is not supported .*\(from pulse\.toml\)$/,
    );
    assert.match(
      errorOf([], { PULSE_TRANSPORT_WEBTRANSPORT: 'true' }),
      /transport\.webtransport: WebTransport is not supported .*\(from env PULSE_TRANSPORT_WEBTRANSPORT\)$/,
    );
    assert.match(
      errorOf(['--transport-webtransport']),
      /transport\.webtransport: WebTransport is not supported .*\(from flag --transport-webtransport\)$/,
    );
    assert.equal(config(['--transport-webtransport=false']).transport.webtransport, false);
  });
});

describe('config: list keys (auth.api_keys)', () => {
  const KEY_A = 'aaaaaaaaaaaaaaaa';
  const KEY_B = 'bbbbbbbbbbbbbbbbbbbb';

  test('TOML: an array of strings', () => {
    const c = config([], {}, dirWithToml(`[auth]\napi_keys = ["${KEY_A}", "${KEY_B}"]\n`));
    assert.deepEqual(c.auth.api_keys, [KEY_A, KEY_B]);
    assert.deepEqual(config([], {}, dirWithToml('[auth]\napi_keys = []\n')).auth.api_keys, []);
  });

  test('env and flags: comma-separated, items trimmed, empty text = empty list', () => {
    assert.deepEqual(config([], { PULSE_AUTH_API_KEYS: ` ${KEY_A} ,${KEY_B}  ` }).auth.api_keys, [
      KEY_A,
      KEY_B,
    ]);
    assert.deepEqual(config([], { PULSE_AUTH_API_KEYS: KEY_A }).auth.api_keys, [KEY_A]);
    assert.deepEqual(config(['--auth-api-keys', `${KEY_A},${KEY_B}`]).auth.api_keys, [KEY_A, KEY_B]);
    const dir = dirWithToml(`[auth]\napi_keys = ["${KEY_A}"]\n`);
    assert.deepEqual(config([], { PULSE_AUTH_API_KEYS: '' }, dir).auth.api_keys, []);
    assert.deepEqual(config(['--auth-api-keys='], {}, dir).auth.api_keys, []);
  });

  test('empty items and wrong TOML types are errors', () => {
    for (const text of ['a,,b', `${KEY_A},`, ` , ${KEY_A}`]) {
      assert.match(
        errorOf([], { PULSE_AUTH_API_KEYS: text }),
        /^config error: auth\.api_keys must be a comma-separated list of non-empty items \(empty text = no items\), got a string of \d+ characters \(value hidden\) \(from env PULSE_AUTH_API_KEYS\)$/,
        text,
      );
    }
    const cases: [string, string][] = [
      ['"x"', 'got a string of 1 character (value hidden)'],
      ['[""]', 'got [0 characters] (values hidden)'],
      ['[5]', 'got a list of 1 item (values hidden)'],
      ['5', 'got an integer (value hidden)'],
    ];
    for (const [toml, got] of cases) {
      assert.equal(
        errorOf([], {}, dirWithToml(`[auth]\napi_keys = ${toml}\n`)),
        `config error: auth.api_keys must be an array of non-empty strings, ${got} (from pulse.toml)`,
        toml,
      );
    }
  });

  test('each key must be at least 16 characters; the keys are never shown', () => {
    const message = errorOf([], { PULSE_AUTH_API_KEYS: `${KEY_B},short-key` });
    assert.equal(
      message,
      'config error: auth.api_keys must hold keys of at least 16 characters each, got [20 characters, 9 characters] (values hidden) (from env PULSE_AUTH_API_KEYS)',
    );
    assert.ok(!message.includes('short-key'));
    assert.match(
      errorOf([], {}, dirWithToml(`[auth]\napi_keys = ["${KEY_A.slice(1)}"]\n`)),
      /auth\.api_keys must hold keys of at least 16 characters each, got \[15 characters\] \(values hidden\) \(from pulse\.toml\)/,
    );
  });

  test('defaultConfig() gives a fresh list each time', () => {
    defaultConfig().auth.api_keys.push('x');
    assert.deepEqual(defaultConfig().auth.api_keys, []);
  });
});

describe('config: [auth] keys', () => {
  test('auth.jwt_hmac_secret: empty, or at least 32 characters; the secret is never shown', () => {
    assert.equal(config(['--auth-jwt-hmac-secret', SECRET]).auth.jwt_hmac_secret, SECRET);
    assert.equal(config([], { PULSE_AUTH_JWT_HMAC_SECRET: '' }).auth.jwt_hmac_secret, '');
    const message = errorOf([], { PULSE_AUTH_JWT_HMAC_SECRET: 'hunter2' });
    assert.equal(
      message,
      'config error: auth.jwt_hmac_secret must be at least 32 characters (256 bits) — generate one with `openssl rand -base64 48`, got a string of 7 characters (value hidden) (from env PULSE_AUTH_JWT_HMAC_SECRET)',
    );
    assert.ok(!message.includes('hunter2'));
    assert.match(
      errorOf([], {}, dirWithToml(`[auth]\njwt_hmac_secret = "${SECRET.slice(1)}"\n`)),
      /auth\.jwt_hmac_secret must be at least 32 characters .*got a string of 31 characters \(value hidden\) \(from pulse\.toml\)$/,
    );
    assert.match(
      errorOf([], {}, dirWithToml('[auth]\njwt_hmac_secret = 5\n')),
      /auth\.jwt_hmac_secret must be a string, got an integer \(value hidden\) \(from pulse\.toml\)/,
    );
  });

  test('URLs must be empty or http(s)://', () => {
    for (const path of ['auth.jwks_url', 'hooks.connect_url', 'hooks.subscribe_url', 'hooks.publish_url']) {
      for (const url of [
        '',
        'http://localhost:9000/x',
        'https://id.example.com/jwks.json',
        'HTTPS://A.EXAMPLE',
      ]) {
        assert.equal(withPath(config([`${flagName(path)}=${url}`]), path), url, `${path} ${url}`);
      }
      for (const url of ['ftp://x', 'id.example.com/jwks.json', 'http://', 'https:// x', '/jwks.json']) {
        assert.equal(
          errorOf([`${flagName(path)}=${url}`]),
          `config error: ${path} must be empty or a URL starting with http:// or https://, got ${JSON.stringify(url)} (from flag ${flagName(path)})`,
          `${path} ${url}`,
        );
      }
    }
  });

  test('ranges of the new integer keys', () => {
    const cases: [string, string, RegExp][] = [
      ['auth.jwks_cache_ms', '999', /auth\.jwks_cache_ms must be an integer between 1000 and 2147483647/],
      ['hooks.timeout_ms', '0', /hooks\.timeout_ms must be an integer between 1 and 60000/],
      ['hooks.timeout_ms', '60001', /hooks\.timeout_ms must be an integer between 1 and 60000/],
      ['hooks.cache_ttl_ms', '2147483648', /hooks\.cache_ttl_ms must be an integer between 0 and 2147483647/],
      [
        'limits.rate_limit_disconnect_after',
        '0',
        /limits\.rate_limit_disconnect_after must be an integer >= 1/,
      ],
      ['limits.messages_per_second', '-1', /limits\.messages_per_second must be an integer >= 0/],
      ['limits.bytes_per_second', 'x', /limits\.bytes_per_second must be an integer >= 0/],
      ['limits.connections_per_second_per_ip', '1.5', /must be an integer >= 0/],
      ['limits.max_connections_per_ip', '', /limits\.max_connections_per_ip must be an integer >= 0/],
      ['tls.client_auth', 'require', /tls\.client_auth must be one of "none", "optional", "required"/],
    ];
    for (const [path, text, pattern] of cases)
      assert.match(errorOf([`${flagName(path)}=${text}`]), pattern, path);
  });
});

/** The value at `section.key` of a config. */
function withPath(c: PulseConfig, path: string): unknown {
  const [section = '', key = ''] = path.split('.');
  return (c as unknown as Record<string, Record<string, unknown>>)[section]?.[key];
}

describe('config: [[auth.users]] and [[auth.acl]] tables', () => {
  const tablesError = (text: string) => errorOf([], {}, dirWithToml(text));
  const USERS =
    '[[auth.users]]\nusername = "alice"\npassword_hash = "scrypt$16384$8$1$c2FsdA$aGFzaA"\n\n' +
    '[[auth.users]]\nusername = "bob"\npassword = "plain text"\n';

  test('are read in order, absent strings as ""', () => {
    const c = config(
      [],
      {},
      dirWithToml(
        '[auth]\nenabled = true\n\n' +
          USERS +
          '\n[[auth.acl]]\nusername = "alice"\naction = "publish"\ntopic_filter = "devices/%u/#"\n' +
          '\n[[auth.acl]]\nusername = "*"\naction = "subscribe"\ntopic_filter = "public/+/%c"\n' +
          '\n[[auth.acl]]\nusername = "bob"\naction = "all"\ntopic_filter = "#"\n',
      ),
    );
    assert.deepEqual(c.auth.users, [
      { username: 'alice', password_hash: 'scrypt$16384$8$1$c2FsdA$aGFzaA', password: '' },
      { username: 'bob', password_hash: '', password: 'plain text' },
    ]);
    assert.deepEqual(c.auth.acl, [
      { username: 'alice', action: 'publish', topic_filter: 'devices/%u/#' },
      { username: '*', action: 'subscribe', topic_filter: 'public/+/%c' },
      { username: 'bob', action: 'all', topic_filter: '#' },
    ]);
    assert.equal(c.auth.enabled, true);
    assert.deepEqual(
      { ...c, auth: { ...c.auth, users: [], acl: [] } },
      withKey(DEFAULTS, 'auth.enabled', true),
    );
  });

  test('inline arrays work; env and flags leave the tables alone; defaults are fresh []', () => {
    const dir = dirWithToml(
      'auth = { users = [{ username = "u", password = "p" }], acl = [{ username = "u", action = "all", topic_filter = "a/b" }] }\n',
    );
    const c = config(['--auth-enabled'], { PULSE_AUTH_JWT_ISSUER: 'me' }, dir);
    assert.deepEqual(c.auth.users, [{ username: 'u', password_hash: '', password: 'p' }]);
    assert.deepEqual(c.auth.acl, [{ username: 'u', action: 'all', topic_filter: 'a/b' }]);
    assert.equal(c.auth.jwt_issuer, 'me');
    const a = defaultConfig();
    a.auth.users.push({ username: 'x', password_hash: '', password: 'y' });
    a.auth.acl.push({ username: 'x', action: 'all', topic_filter: '#' });
    assert.deepEqual([defaultConfig().auth.users, defaultConfig().auth.acl], [[], []]);
  });

  test('errors name auth.users[N].key / auth.acl[N].key and the file', () => {
    const cases: [string, string][] = [
      [
        '[[auth.users]]\nusername = "a"\npasword = "p"\n',
        'config error: unknown key "auth.users[0].pasword" in pulse.toml (did you mean "auth.users[0].password"?)',
      ],
      [
        '[[auth.users]]\npassword = "p"\n',
        'config error: auth.users[0].username is required (the MQTT username) (from pulse.toml)',
      ],
      [
        '[[auth.users]]\nusername = ""\npassword = "p"\n',
        'config error: auth.users[0].username must be a non-empty string, got "" (from pulse.toml)',
      ],
      [
        '[[auth.users]]\nusername = "a"\n',
        'config error: auth.users[0] must set exactly one of password_hash and password (from pulse.toml)',
      ],
      [
        '[[auth.users]]\nusername = "a"\npassword = "p"\npassword_hash = "scrypt$x"\n',
        'config error: auth.users[0] must set exactly one of password_hash and password (from pulse.toml)',
      ],
      [
        '[[auth.users]]\nusername = "a"\npassword_hash = "bcrypt$x"\n',
        'config error: auth.users[0].password_hash must be a scrypt hash starting with "scrypt$" (from `pulse passwd`), got a string of 8 characters (value hidden) (from pulse.toml)',
      ],
      [
        '[[auth.users]]\nusername = "a"\npassword = ""\n',
        'config error: auth.users[0].password must be a non-empty string, got "" (from pulse.toml)',
      ],
      [
        // A secret is hidden whatever its type (a password mistyped as a TOML number included).
        '[[auth.users]]\nusername = "a"\npassword = 12345678\n',
        'config error: auth.users[0].password must be a non-empty string, got an integer (value hidden) (from pulse.toml)',
      ],
      [
        '[[auth.users]]\nusername = "a"\npassword = [12345678, "x"]\n',
        'config error: auth.users[0].password must be a non-empty string, got a list of 2 items (values hidden) (from pulse.toml)',
      ],
      [
        '[[auth.users]]\nusername = "a"\npassword_hash = 12345678\n',
        'config error: auth.users[0].password_hash must be a non-empty string, got an integer (value hidden) (from pulse.toml)',
      ],
      [
        `${USERS}[[auth.users]]\nusername = "carol"\npassword = "p"\n[[auth.users]]\nusername = "bob"\npassword = "q"\n`,
        'config error: auth.users[3].username "bob" is already used by auth.users[1] (from pulse.toml)',
      ],
      [
        '[[auth.acl]]\naction = "all"\ntopic_filter = "#"\n',
        'config error: auth.acl[0].username is required (the user the rule is for, or "*" for everyone) (from pulse.toml)',
      ],
      [
        '[[auth.acl]]\nusername = "*"\ntopic_filter = "#"\n',
        'config error: auth.acl[0].action is required (publish, subscribe or all) (from pulse.toml)',
      ],
      [
        '[[auth.acl]]\nusername = "*"\naction = "all"\n',
        'config error: auth.acl[0].topic_filter is required (the topics the rule covers) (from pulse.toml)',
      ],
      [
        '[[auth.acl]]\nusername = "*"\naction = "read"\ntopic_filter = "#"\n',
        'config error: auth.acl[0].action must be one of "publish", "subscribe", "all", got "read" (from pulse.toml)',
      ],
      [
        '[[auth.acl]]\nusername = "*"\naction = "all"\ntopic_filter = ""\n',
        'config error: auth.acl[0].topic_filter must be a non-empty string, got "" (from pulse.toml)',
      ],
      [
        '[[auth.acl]]\nusername = "*"\naction = "all"\ntopic_filter = "a/#/b"\n',
        'config error: auth.acl[0].topic_filter may use "#" only as its last level, got "a/#/b" (from pulse.toml)',
      ],
      [
        '[[auth.acl]]\nusername = "*"\naction = "all"\ntopic_filter = "a/b#"\n',
        'config error: auth.acl[0].topic_filter may use "#" only as a whole level, got "a/b#" (from pulse.toml)',
      ],
      [
        '[[auth.acl]]\nusername = "*"\naction = "all"\ntopic_filter = "a/+b/c"\n',
        'config error: auth.acl[0].topic_filter may use "+" only as a whole level, got "a/+b/c" (from pulse.toml)',
      ],
      [
        '[[auth.acl]]\nusername = "*"\naction = "all"\ntopic_filter = "a"\ntopic = "b"\n',
        'config error: unknown key "auth.acl[0].topic" in pulse.toml',
      ],
      [
        '[auth.users]\nusername = "a"\n',
        'config error: auth.users must be an array of tables (write [[auth.users]], not [auth.users]), got a table (from pulse.toml)',
      ],
      [
        '[auth]\nacl = "all"\n',
        'config error: auth.acl must be an array of tables (write [[auth.acl]], not [auth.acl]), got "all" (from pulse.toml)',
      ],
      ['[auth]\nusers = [5]\n', 'config error: auth.users[0] must be a table, got 5 (from pulse.toml)'],
    ];
    for (const [text, message] of cases) assert.equal(tablesError(text), message, text);
  });

  test('accepted topic filters: wildcards as whole levels, %u and %c anywhere', () => {
    for (const filter of [
      '#',
      '+',
      'a/+/c',
      'a/b/#',
      '+/+/#',
      'devices/%u/#',
      'clients/%c',
      'u-%u-%c/x',
      '/a/',
    ]) {
      const c = config(
        [],
        {},
        dirWithToml(`[[auth.acl]]\nusername = "*"\naction = "publish"\ntopic_filter = "${filter}"\n`),
      );
      assert.equal(at(c.auth.acl, 0).topic_filter, filter);
    }
  });

  test('the file is named as given; near-miss names suggest the table', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a.toml'), '[[auth.users]]\nusername = "a"\n');
    assert.match(errorOf(['--config', 'a.toml'], {}, dir), /auth\.users\[0\] must set .* \(from a\.toml\)$/);
    assert.equal(
      tablesError('[[auth.user]]\nusername = "a"\n'),
      'config error: unknown key "auth.user" in pulse.toml (did you mean [[auth.users]]?)',
    );
    assert.equal(
      tablesError('[[auth.acls]]\nusername = "a"\n'),
      'config error: unknown key "auth.acls" in pulse.toml (did you mean [[auth.acl]]?)',
    );
    assert.equal(
      tablesError('[auth]\napi_key = ["0123456789abcdef"]\n'),
      'config error: unknown key "auth.api_key" in pulse.toml (did you mean "auth.api_keys"?)',
    );
  });

  test('cannot be set from the environment or flags', () => {
    assert.equal(
      errorOf([], { PULSE_AUTH_USERS_USERNAME: 'alice' }),
      'config error: auth.users cannot be set from the environment (env PULSE_AUTH_USERS_USERNAME): write [[auth.users]] tables in the config file',
    );
    assert.equal(
      errorOf([], { PULSE_AUTH_USERS: 'alice:pw' }),
      'config error: auth.users cannot be set from the environment (env PULSE_AUTH_USERS): write [[auth.users]] tables in the config file',
    );
    assert.equal(
      errorOf([], { PULSE_AUTH_ACL_TOPIC_FILTER: '#' }),
      'config error: auth.acl cannot be set from the environment (env PULSE_AUTH_ACL_TOPIC_FILTER): write [[auth.acl]] tables in the config file',
    );
    assert.match(errorOf(['--auth-users', 'x']), /^config error: unknown flag --auth-users/);
  });
});

describe('config: server.workers', () => {
  test('--workers, --server-workers, PULSE_SERVER_WORKERS and PULSE_WORKERS set it; 0 is accepted (one per CPU)', () => {
    const nats = ['--cluster-engine', 'nats'];
    assert.equal(config(['--workers', '3', ...nats]).server.workers, 3);
    assert.equal(config(['--server-workers=0', ...nats]).server.workers, 0);
    assert.equal(config(nats, { PULSE_SERVER_WORKERS: '2' }).server.workers, 2);
    assert.equal(config(nats, { PULSE_WORKERS: '5', PULSE_SERVER_WORKERS: '2' }).server.workers, 2);
    assert.equal(config([], { NATS_URL: 'nats://127.0.0.1:4222', PULSE_WORKERS: '5' }).server.workers, 5);
    assert.equal(config().server.workers, 1);
  });

  test('workers other than 1 without a cluster engine is one line naming both keys', () => {
    for (const n of ['2', '0']) {
      assert.equal(
        errorOf(['--workers', n]),
        `config error: server.workers other than 1 needs [cluster] engine (the workers share publications through it: set cluster.engine = "nats" and cluster.url; without a NATS or Redis server, run one process), got server.workers = ${n} (from flag --workers) and cluster.engine = "none" (default)`,
      );
    }
    assert.equal(config(['--workers', '1']).server.workers, 1);
  });
});

describe('config: TLS and auth cross checks', () => {
  const CERT_FLAGS = ['--tls-certificate-chain', '/c.pem', '--tls-private-key', '/k.pem'];

  test('a listener with tls = true needs tls.certificate_chain and tls.private_key', () => {
    for (const path of ['server.tls', 'transport.tls', 'mqtt.tls']) {
      assert.equal(
        errorOf([flagName(path)]),
        `config error: ${path} = true needs tls.certificate_chain and tls.private_key (PEM files of the server certificate chain and its key), got ${path} = true (from flag ${flagName(path)}), tls.certificate_chain = "" (default) and tls.private_key = "" (default)`,
      );
      assert.match(
        errorOf([flagName(path), '--tls-certificate-chain', '/c.pem']),
        /tls\.certificate_chain = "\/c\.pem" \(from flag --tls-certificate-chain\) and tls\.private_key = "" \(default\)$/,
      );
      assert.match(errorOf([flagName(path), '--tls-private-key', '/k.pem']), /needs tls\.certificate_chain/);
      assert.equal(withPath(config([flagName(path), ...CERT_FLAGS]), path), true);
    }
    // A certificate without any listener using it is fine (and so is every listener off).
    assert.equal(config(CERT_FLAGS).tls.certificate_chain, '/c.pem');
  });

  test('tls.client_auth optional|required needs tls.client_ca', () => {
    for (const mode of ['optional', 'required']) {
      assert.equal(
        errorOf(['--tls-client-auth', mode]),
        `config error: tls.client_auth = "optional" or "required" needs tls.client_ca (PEM file of the CA that client certificates must chain to), got tls.client_auth = "${mode}" (from flag --tls-client-auth) and tls.client_ca = "" (default)`,
      );
      assert.equal(config(['--tls-client-auth', mode, '--tls-client-ca', '/ca.pem']).tls.client_auth, mode);
    }
    assert.equal(config(['--tls-client-ca', '/ca.pem']).tls.client_auth, 'none');
  });

  test('tls.use_identity_as_username needs client certificates', () => {
    assert.equal(
      errorOf(['--tls-use-identity-as-username']),
      'config error: tls.use_identity_as_username = true needs tls.client_auth = "optional" or "required" (the username comes from the client certificate), got tls.use_identity_as_username = true (from flag --tls-use-identity-as-username) and tls.client_auth = "none" (default)',
    );
    const c = config([
      '--tls-use-identity-as-username',
      '--tls-client-auth=required',
      '--tls-client-ca=/ca.pem',
    ]);
    assert.equal(c.tls.use_identity_as_username, true);
  });

  test('auth.enabled = true without any credentials is refused', () => {
    const message =
      'config error: auth.enabled = true but no credentials are configured: set auth.jwt_hmac_secret, auth.jwt_public_key, auth.jwks_url or [[auth.users]]';
    assert.equal(
      errorOf(['--auth-enabled']),
      `${message}, got auth.enabled = true (from flag --auth-enabled)`,
    );
    assert.equal(
      errorOf([], {}, dirWithToml('[auth]\nenabled = true\njwt_audience = "a"\n')),
      `${message}, got auth.enabled = true (from pulse.toml)`,
    );
    assert.equal(
      errorOf([], { PULSE_AUTH_ENABLED: 'yes', PULSE_AUTH_API_KEYS: 'aaaaaaaaaaaaaaaa' }),
      `${message}, got auth.enabled = true (from env PULSE_AUTH_ENABLED)`,
      'API keys are for /api/* only',
    );
    // Any one way to authenticate clients is enough.
    const ways: [string[], string?][] = [
      [['--auth-jwt-hmac-secret', SECRET]],
      [['--auth-jwt-public-key', '/jwt.pem']],
      [['--auth-jwks-url', 'https://id.example.com/jwks.json']],
      [[], '[[auth.users]]\nusername = "a"\npassword = "p"\n'],
      [['--tls-use-identity-as-username', '--tls-client-auth', 'required', '--tls-client-ca', '/ca.pem']],
    ];
    for (const [flags, toml] of ways) {
      const dir = toml === undefined ? tempDir() : dirWithToml(toml);
      assert.equal(config(['--auth-enabled', ...flags], {}, dir).auth.enabled, true, flags.join(' '));
    }
  });
});

describe('config: seed TLS aliases', () => {
  test('--bind 0.0.0.0:8883 --tls --tls-certificate-chain ... --tls-private-key ...: MQTT over TLS on 8883', () => {
    const c = config([
      '--bind',
      '0.0.0.0:8883',
      '--tls',
      '--tls-certificate-chain',
      '/etc/pulse/server-chain.pem',
      '--tls-private-key',
      '/etc/pulse/server-key.pem',
    ]);
    assert.deepEqual(listener(c), { host: '0.0.0.0', port: 8883 });
    assert.equal(c.mqtt.tls, true);
    assert.equal(c.server.tls, false);
    assert.equal(c.transport.tls, false);
    assert.deepEqual(c.tls, {
      ...DEFAULTS.tls,
      certificate_chain: '/etc/pulse/server-chain.pem',
      private_key: '/etc/pulse/server-key.pem',
    });
  });

  test('mTLS flags: --tls-client-auth optional|required and --tls-client-ca', () => {
    const c = config([
      '--tls',
      'true',
      ...['--tls-certificate-chain=/c.pem', '--tls-private-key=/k.pem'],
      ...['--tls-client-auth', 'required', '--tls-client-ca', '/etc/pulse/client-ca.pem'],
    ]);
    assert.equal(c.mqtt.tls, true);
    assert.equal(c.tls.client_auth, 'required');
    assert.equal(c.tls.client_ca, '/etc/pulse/client-ca.pem');
    assert.equal(config(['--tls=false']).mqtt.tls, false);
  });

  test('MQTT_RS_TLS_* environment variables', () => {
    const c = config([], {
      MQTT_RS_BIND: '0.0.0.0:8883',
      MQTT_RS_TLS_ENABLED: 'true',
      MQTT_RS_TLS_CERTIFICATE_CHAIN: '/c.pem',
      MQTT_RS_TLS_PRIVATE_KEY: '/k.pem',
      MQTT_RS_TLS_CLIENT_AUTH: 'optional',
      MQTT_RS_TLS_CLIENT_CA: '/ca.pem',
    });
    assert.deepEqual(listener(c), { host: '0.0.0.0', port: 8883 });
    assert.equal(c.mqtt.tls, true);
    assert.deepEqual(c.tls, {
      certificate_chain: '/c.pem',
      private_key: '/k.pem',
      client_auth: 'optional',
      client_ca: '/ca.pem',
      use_identity_as_username: false,
    });
    assert.match(
      errorOf([], { MQTT_RS_TLS_ENABLED: 'on' }),
      /mqtt\.tls must be a boolean .*got "on" \(from env MQTT_RS_TLS_ENABLED\)/,
    );
    assert.match(
      errorOf([], { MQTT_RS_TLS_CLIENT_AUTH: 'always' }),
      /tls\.client_auth must be one of "none", "optional", "required", got "always" \(from env MQTT_RS_TLS_CLIENT_AUTH\)/,
    );
  });

  test('PULSE_ names beat the MQTT_RS_ aliases', () => {
    const env = {
      MQTT_RS_TLS_ENABLED: 'true',
      PULSE_MQTT_TLS: 'false',
      MQTT_RS_TLS_CERTIFICATE_CHAIN: '/seed.pem',
      PULSE_TLS_CERTIFICATE_CHAIN: '/pulse.pem',
    };
    const c = config([], env);
    assert.equal(c.mqtt.tls, false);
    assert.equal(c.tls.certificate_chain, '/pulse.pem');
  });
});

describe('config: --help and --version', () => {
  test('--help and -h list every key with its flag, env name and default', () => {
    for (const flag of ['--help', '-h']) {
      const result = load([flag]);
      assert.equal(result.kind, 'help');
      assert.ok(result.kind === 'help');
      const text = result.text;
      assert.match(text, /pulse 1\.2\.3/);
      for (const k of EVERY_KEY) {
        assert.ok(text.includes(flagName(k.path)), `${flagName(k.path)} in help`);
        assert.ok(text.includes(envName(k.path)), `${envName(k.path)} in help`);
      }
      for (const name of [
        '--config FILE',
        'PULSE_CONFIG',
        '--host',
        'PULSE_HOST',
        '--port',
        'PULSE_PORT',
        '--tcp-port',
        'PULSE_TCP_PORT',
        '--log',
        'PULSE_LOG',
        '--bind HOST:PORT',
        'MQTT_RS_BIND',
        '--metrics-bind HOST:PORT',
        'MQTT_RS_METRICS_BIND',
        '--shutdown-drain-timeout-ms',
        'MQTT_RS_SHUTDOWN_DRAIN_TIMEOUT_MS',
        '--sqlite PATH',
        '--storage-engine',
        'default: 100000',
        'default: "127.0.0.1"',
        'drop|disconnect',
        '--tls [BOOL]',
        'MQTT_RS_TLS_ENABLED',
        'MQTT_RS_TLS_CERTIFICATE_CHAIN',
        'MQTT_RS_TLS_PRIVATE_KEY',
        'MQTT_RS_TLS_CLIENT_AUTH',
        'MQTT_RS_TLS_CLIENT_CA',
        'none|optional|required',
        '--auth-api-keys KEY,KEY,...',
        'default: []',
        '[[history]], [[auth.users]], [[auth.acl]]',
      ]) {
        assert.ok(text.includes(name), `${name} in help`);
      }
    }
  });

  test('--help wins over bad flags, bad env and a missing config file', () => {
    const result = load(['--prot', '1', '--help', '--config', 'nope.toml'], { PULSE_PORT: 'x' });
    assert.equal(result.kind, 'help');
  });

  test('--version, -V and -v print "pulse <version>"', () => {
    for (const flag of ['--version', '-V', '-v']) {
      assert.deepEqual(load(['--port', '1', flag]), { kind: 'version', text: 'pulse 1.2.3' });
    }
    assert.equal(errorOf(['--version=2']), 'config error: flag --version takes no value');
  });
});

describe('ConfigError', () => {
  test('is an Error whose message is one line with the config error prefix', () => {
    const err = new ConfigError('server.port must be an integer,\ngot "x"');
    assert.ok(err instanceof Error);
    assert.equal(err.name, 'ConfigError');
    assert.equal(err.message, 'config error: server.port must be an integer, got "x"');
    assert.equal(new ConfigError('config error: x').message, 'config error: x');
  });
});
