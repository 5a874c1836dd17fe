import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
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
  server: { host: string; port: number; shutdown_drain_timeout_ms: number };
  transport: { websocket: boolean; webtransport: boolean; tcp_port: number; ws_path: string };
  mqtt: {
    host: string;
    port: number;
    websocket: boolean;
    ws_path: string;
    max_packet_size: number;
    receive_maximum: number;
    topic_alias_maximum: number;
    max_keepalive: number;
    max_queued_messages: number;
    queue_qos0_offline: boolean;
    max_session_expiry_interval: number;
    max_retained_messages: number;
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
    max_message_size: number;
    max_frame_size: number;
    max_outbound_bytes: number;
    slow_consumer_policy: 'drop' | 'disconnect';
  };
  heartbeat: { interval_ms: number; timeout_ms: number };
  metrics: { enabled: boolean; host: string; port: number };
  log: {
    level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
    report_interval_ms: number;
  };
  history: { pattern: string; size: number; ttl_ms: number }[];
}
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const shapeMatchesSpec: Equal<PulseConfig, SpecConfig> = true;

const SEED_TOML = fileURLToPath(new URL('../../test/fixtures/seed.toml', import.meta.url));
const VERSION = '1.2.3';
const listener = (c: PulseConfig) => ({ host: c.mqtt.host, port: c.mqtt.port });

const DEFAULTS: SpecConfig = {
  server: { host: '127.0.0.1', port: 8080, shutdown_drain_timeout_ms: 5000 },
  transport: { websocket: true, webtransport: false, tcp_port: 8081, ws_path: '/ws' },
  mqtt: {
    host: '',
    port: 1883,
    websocket: true,
    ws_path: '/mqtt',
    max_packet_size: 1_048_576,
    receive_maximum: 1024,
    topic_alias_maximum: 64,
    max_keepalive: 65_535,
    max_queued_messages: 1000,
    queue_qos0_offline: false,
    max_session_expiry_interval: 4_294_967_295,
    max_retained_messages: 100_000,
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
    max_message_size: 65536,
    max_frame_size: 16777216,
    max_outbound_bytes: 1048576,
    slow_consumer_policy: 'drop',
  },
  heartbeat: { interval_ms: 30000, timeout_ms: 60000 },
  metrics: { enabled: true, host: '127.0.0.1', port: 9090 },
  log: { level: 'info', report_interval_ms: 60000 },
  history: [],
};

/** A fresh empty directory: no pulse.toml unless the test writes one. */
function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'pulse-config-'));
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
  const [section, key] = path.split('.');
  copy[section][key] = value;
  return copy as unknown as SpecConfig;
}

/** A valid, non-default value for every key, as TOML, as text, and as the parsed value. */
const EVERY_KEY: { path: string; toml: string; text: string; value: unknown }[] = [
  { path: 'server.host', toml: '"0.0.0.0"', text: '0.0.0.0', value: '0.0.0.0' },
  { path: 'server.port', toml: '9000', text: '9000', value: 9000 },
  { path: 'server.shutdown_drain_timeout_ms', toml: '0', text: '0', value: 0 },
  { path: 'transport.websocket', toml: 'false', text: 'false', value: false },
  { path: 'transport.webtransport', toml: 'false', text: 'no', value: false },
  { path: 'transport.tcp_port', toml: '0', text: '0', value: 0 },
  { path: 'transport.ws_path', toml: '"/pulse"', text: '/pulse', value: '/pulse' },
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
  { path: 'mqtt.max_packet_size', toml: '4096', text: '4096', value: 4096 },
  { path: 'mqtt.receive_maximum', toml: '10', text: '10', value: 10 },
  { path: 'mqtt.topic_alias_maximum', toml: '5', text: '5', value: 5 },
  { path: 'mqtt.max_keepalive', toml: '120', text: '120', value: 120 },
  { path: 'mqtt.max_queued_messages', toml: '50', text: '50', value: 50 },
  { path: 'mqtt.queue_qos0_offline', toml: 'true', text: 'true', value: true },
  { path: 'mqtt.max_session_expiry_interval', toml: '3600', text: '3600', value: 3600 },
  { path: 'mqtt.max_retained_messages', toml: '7', text: '7', value: 7 },
  { path: 'mqtt.inflight_retransmit_interval_ms', toml: '250', text: '250', value: 250 },
  { path: 'mqtt.slow_consumer_policy', toml: '"disconnect"', text: 'disconnect', value: 'disconnect' },
  { path: 'mqtt.sys_interval_ms', toml: '0', text: '0', value: 0 },
  { path: 'limits.max_connections', toml: '5', text: '5', value: 5 },
  { path: 'limits.max_channels', toml: '7', text: '7', value: 7 },
  { path: 'limits.max_subscriptions_per_connection', toml: '3', text: '3', value: 3 },
  { path: 'limits.max_message_size', toml: '16777216', text: '16777216', value: 16777216 },
  { path: 'limits.max_frame_size', toml: '1024', text: '1024', value: 1024 },
  { path: 'limits.max_outbound_bytes', toml: '1024', text: '1024', value: 1024 },
  { path: 'limits.slow_consumer_policy', toml: '"disconnect"', text: 'disconnect', value: 'disconnect' },
  { path: 'heartbeat.interval_ms', toml: '10', text: '10', value: 10 },
  { path: 'heartbeat.timeout_ms', toml: '90000', text: '90000', value: 90000 },
  { path: 'metrics.enabled', toml: 'false', text: '0', value: false },
  { path: 'metrics.host', toml: '"::"', text: '::', value: '::' },
  { path: 'metrics.port', toml: '0', text: '0', value: 0 },
  { path: 'log.level', toml: '"debug"', text: 'debug', value: 'debug' },
  { path: 'log.report_interval_ms', toml: '0', text: '0', value: 0 },
];

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
    const paths = Object.entries(DEFAULTS).flatMap(([s, keys]) => Object.keys(keys).map((k) => `${s}.${k}`));
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
      const [section, key] = k.path.split('.');
      const c = config([], {}, dirWithToml(`[${section}]\n${key} = ${k.toml}\n`));
      assert.deepEqual(c, withKey(DEFAULTS, k.path, k.value), k.path);
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
    assert.match(
      errorOf([], {}, dirWithToml('[server.tls]\nenabled = true\n')),
      /unknown key "server\.tls" in pulse\.toml/,
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
        '[limits]\nslow_consumer_policy = "throttle"',
        /limits\.slow_consumer_policy must be one of "drop", "disconnect", got "throttle"/,
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
      { pattern: 'chat:*', size: 1000, ttl_ms: 86_400_000 },
      { pattern: 'sensors/+/temp', size: 100, ttl_ms: 0 },
      { pattern: 'logs/#', size: 1, ttl_ms: 0 },
    ]);
    assert.equal(c.server.port, 9000);
    assert.deepEqual({ ...c, history: [] }, withKey(DEFAULTS, 'server.port', 9000));
  });

  test('an inline array of tables works too; env and flags leave the tables alone', () => {
    const dir = dirWithToml('history = [{ pattern = "a" }, { pattern = "b", size = 5 }]\n');
    const c = config(['--port', '1'], { PULSE_LOG: 'warn' }, dir);
    assert.deepEqual(c.history, [
      { pattern: 'a', size: 100, ttl_ms: 0 },
      { pattern: 'b', size: 5, ttl_ms: 0 },
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
      assert.deepEqual(config([], { [envName(k.path)]: k.text }), withKey(DEFAULTS, k.path, k.value), k.path);
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
      const expected = withKey(DEFAULTS, k.path, k.value);
      assert.deepEqual(config([flagName(k.path), k.text]), expected, k.path);
      assert.deepEqual(config([`${flagName(k.path)}=${k.text}`]), expected, `${k.path} with =`);
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
      ['transport.tcp_port', '99999', /transport\.tcp_port must be an integer between 0 and 65535/],
      ['limits.max_connections', '0', /limits\.max_connections must be an integer >= 1, got "0"/],
      ['limits.max_channels', '0', /limits\.max_channels must be an integer >= 1/],
      ['limits.max_subscriptions_per_connection', '0', /must be an integer >= 1/],
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
