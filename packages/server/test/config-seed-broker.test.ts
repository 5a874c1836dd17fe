// How the MQTT broker seed's Broker.toml keys are read (the files themselves, loaded by a real
// process and used by real clients, are in seed-broker-toml.test.ts).
import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ConfigError, type LoadResult, loadConfig } from '../src/config/index.js';

/** The working directories the tests make, inside one removed at the end. */
const root = mkdtempSync(join(tmpdir(), 'pulse-seed-config-'));
after(() => rmSync(root, { recursive: true, force: true }));
const newDir = (): string => mkdtempSync(join(root, 'dir-'));

/** Loads a working directory holding `name` with `text`. */
function load(name: string, text: string, argv: string[] = []): Extract<LoadResult, { kind: 'run' }> {
  const dir = newDir();
  writeFileSync(join(dir, name), text);
  const result = loadConfig(argv, {}, dir, '1.0.0');
  assert.equal(result.kind, 'run');
  return result as Extract<LoadResult, { kind: 'run' }>;
}

function errorOf(name: string, text: string): string {
  try {
    load(name, text);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.message;
  }
  assert.fail('expected a ConfigError');
}

test('[server] bind, [observability] metrics_bind and [websocket] set the listeners they name', () => {
  const { config } = load(
    'Broker.toml',
    '[server]\nbind = "0.0.0.0:8883"\n[observability]\nmetrics_bind = "127.0.0.1:9000"\n' +
      '[websocket]\nenabled = true\nbind = "[::1]:8084"\npath = "/ws-mqtt"\n',
  );
  assert.deepEqual([config.mqtt.host, config.mqtt.port], ['0.0.0.0', 8883]);
  assert.deepEqual([config.metrics.host, config.metrics.port], ['127.0.0.1', 9000]);
  assert.deepEqual(
    [config.mqtt.ws_host, config.mqtt.ws_port, config.mqtt.ws_path],
    ['::1', 8084, '/ws-mqtt'],
  );
  // Pulse's own [server] keys keep their meaning next to the seed's.
  assert.equal(config.server.port, 8080);
});

test('[websocket] enabled = true without bind listens on 8083; without enabled = true, on nothing (with a warning)', () => {
  assert.equal(load('Broker.toml', '[websocket]\nenabled = true\n').config.mqtt.ws_port, 8083);
  const off = load('Broker.toml', '[websocket]\nbind = "0.0.0.0:8083"\n');
  assert.equal(off.config.mqtt.ws_port, 0);
  assert.equal(off.warnings.length, 1);
  assert.match(at(off.warnings, 0), /\[websocket\] .* has no effect without enabled = true/);
});

test("[limits] slow_consumer_policy is the MQTT policy in a seed file, Pulse's own elsewhere", () => {
  const seed = load('Broker.toml', '[limits]\nslow_consumer_policy = "disconnect"\n').config;
  assert.deepEqual(
    [seed.mqtt.slow_consumer_policy, seed.limits.slow_consumer_policy],
    ['disconnect', 'drop'],
  );
  const pulse = load('pulse.toml', '[limits]\nslow_consumer_policy = "disconnect"\n').config;
  assert.deepEqual(
    [pulse.mqtt.slow_consumer_policy, pulse.limits.slow_consumer_policy],
    ['throttle', 'disconnect'],
  );
  // Values only the seed's key has are the seed's in any file.
  const queue = load('pulse.toml', '[limits]\nslow_consumer_policy = "queue-offline"\n').config;
  assert.deepEqual(
    [queue.mqtt.slow_consumer_policy, queue.limits.slow_consumer_policy],
    ['queue-offline', 'drop'],
  );
  // A file with another seed key is the seed's, whatever its name.
  const other = load(
    'mine.toml',
    '[server]\nbind = "127.0.0.1:1883"\n[limits]\nslow_consumer_policy = "disconnect"\n',
    ['--config', 'mine.toml'],
  ).config;
  assert.equal(other.mqtt.slow_consumer_policy, 'disconnect');
});

test('[storage] sqlite and [server.tls] set the Pulse keys; worker_threads only warns', () => {
  const result = load(
    'Broker.toml',
    '[server]\nworker_threads = 8\n[storage]\nsqlite = "pulse.db"\n[server.tls]\nenabled = true\n' +
      'certificate_chain = "c.pem"\nprivate_key = "k.pem"\nclient_auth = "required"\nclient_ca = "ca.pem"\n',
  );
  const { config } = result;
  assert.deepEqual([config.storage.engine, config.storage.path], ['sqlite', 'pulse.db']);
  assert.equal(config.mqtt.tls, true);
  assert.equal(config.server.tls, false, "the seed's [server.tls] is the MQTT listener, not HTTPS");
  assert.deepEqual(
    [config.tls.certificate_chain, config.tls.private_key, config.tls.client_auth, config.tls.client_ca],
    ['c.pem', 'k.pem', 'required', 'ca.pem'],
  );
  assert.equal(result.warnings.length, 1);
  assert.match(
    at(result.warnings, 0),
    /^\/.*\/Broker\.toml \[server\] worker_threads = 8 is ignored: Pulse has no thread count/,
  );
});

test('mistakes in seed keys name the key and the file', () => {
  assert.match(
    errorOf('Broker.toml', '[server]\nbind = "8883"\n'),
    /^config error: \[server\] bind in .*Broker\.toml must be HOST:PORT/,
  );
  assert.match(
    errorOf('Broker.toml', '[server]\nbind = "0.0.0.0:http"\n'),
    /^config error: mqtt\.port must be an integer between 0 and 65535, got "http" \(from .*Broker\.toml \[server\] bind\)$/,
  );
  assert.match(errorOf('Broker.toml', '[observability]\nlog = "x"\n'), /unknown key "observability\.log"/);
  assert.match(
    errorOf('Broker.toml', '[websocket]\nenabled = "yes"\n'),
    /\[websocket\] enabled .* must be true or false/,
  );
  assert.match(errorOf('Broker.toml', '[server.tls]\nenable = true\n'), /unknown key "server\.tls\.enable"/);
});

test('storage.commit_policy with the memory engine is accepted with a warning that it does nothing', () => {
  const result = load('pulse.toml', '[storage]\ncommit_policy = "strict"\n');
  assert.equal(result.warnings.length, 1);
  assert.match(
    at(result.warnings, 0),
    /storage\.commit_policy = "strict" \(from pulse\.toml\).*no effect with the memory engine/,
  );
  assert.deepEqual(
    load('pulse.toml', '[storage]\nengine = "sqlite"\ncommit_policy = "strict"\n').warnings,
    [],
  );
});

test("the seed's --worker-threads and MQTT_RS_WORKER_THREADS are accepted and ignored with a warning", () => {
  const dir = newDir();
  const result = loadConfig(
    ['--worker-threads', '8', '--port', '9000'],
    { MQTT_RS_WORKER_THREADS: '4' },
    dir,
    '1.0.0',
  );
  assert.equal(result.kind, 'run');
  const { warnings, config } = result as Extract<LoadResult, { kind: 'run' }>;
  assert.equal(config.server.port, 9000, 'the flag after it is still read');
  assert.deepEqual(warnings, [
    'env MQTT_RS_WORKER_THREADS = 4 is ignored: Pulse has no thread count; to use more cores run worker processes with server.workers (--workers N, with [cluster] engine)',
    'flag --worker-threads = 8 is ignored: Pulse has no thread count; to use more cores run worker processes with server.workers (--workers N, with [cluster] engine)',
  ]);
  assert.throws(
    () => loadConfig(['--worker-threads'], {}, dir, '1.0.0'),
    /flag --worker-threads needs a value \(--worker-threads N\)/,
  );
});
