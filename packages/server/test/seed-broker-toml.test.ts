// The MQTT broker seed's README snippets, each written as a Broker.toml and loaded by a real
// `pulse` process (no --config: it is found as the seed finds it), then used by real clients.
import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { freePort } from './helpers.js';
import { endAll, mqttClient } from './mqtt-helpers.js';
import { type PulseProcess, spawnPulse } from './pulse-process.js';

const OPENSSL = '/usr/bin/openssl';
const root = mkdtempSync(join(tmpdir(), 'pulse-seed-toml-'));
after(() => rmSync(root, { recursive: true, force: true }));

let dirs = 0;
/** A fresh working directory holding `Broker.toml` with `text`. */
function brokerToml(text: string): string {
  const dir = join(root, `d${++dirs}`);
  mkdirSync(dir);
  writeFileSync(join(dir, 'Broker.toml'), text);
  return dir;
}

/** The other listeners on free ports (flags beat the file), so only the snippet's own bind is fixed. */
async function otherPorts(): Promise<string[]> {
  return ['--port', String(await freePort()), '--tcp-port', '0', '--metrics-port', '0'];
}

async function run(dir: string, args: string[], command?: string): Promise<PulseProcess> {
  const p = spawnPulse(args, {}, { cwd: dir, command });
  after(() => p.kill());
  await p.ready;
  return p;
}

/** Log lines (pino JSON) with `msg`. */
function logLines(p: PulseProcess, msg: string): Record<string, unknown>[] {
  return p
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => typeof l.msg === 'string' && (l.msg as string).includes(msg));
}

/** Publishes on one client and expects it on another subscribed to `topic`. */
async function roundTrip(
  pubUrl: string,
  subUrl: string,
  topic: string,
  options: Parameters<typeof mqttClient>[1] = {},
) {
  const sub = await mqttClient(subUrl, options);
  const pub = await mqttClient(pubUrl, options);
  try {
    await sub.subscribeAsync(topic, { qos: 1 });
    await pub.publishAsync(topic, 'hello', { qos: 1 });
    const [got] = await sub.inbox.waitFor(1);
    assert.ok(got !== undefined);
    assert.equal(got.topic, topic);
    assert.equal(got.payload.toString(), 'hello');
  } finally {
    await endAll(sub, pub);
  }
}

interface Pem {
  cert: string;
  key: string;
}

/** A self-signed certificate for 127.0.0.1 (`-CA` to issue it from `ca` instead). */
function certificate(name: string, subject: string, ca?: Pem): Pem {
  const pem = { cert: join(root, `${name}.pem`), key: join(root, `${name}.key`) };
  const issuer = ca ? ['-CA', ca.cert, '-CAkey', ca.key] : [];
  execFileSync(
    OPENSSL,
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '2',
      '-subj',
      `/CN=${subject}`,
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      ...issuer,
      '-keyout',
      pem.key,
      '-out',
      pem.cert,
    ],
    { stdio: 'pipe' },
  );
  return pem;
}

test('Broker.toml: [storage] sqlite = "pulse.db" keeps state in that SQLite file', async () => {
  const dir = brokerToml('[storage]\nsqlite = "pulse.db"\n');
  const mqttPort = await freePort();
  const p = await run(dir, [...(await otherPorts()), '--mqtt-port', String(mqttPort)]);
  assert.equal(logLines(p, 'configuration loaded')[0]?.file, join(dir, 'Broker.toml'));
  assert.equal(logLines(p, 'state restored')[0]?.engine, 'sqlite');
  assert.ok(existsSync(join(dir, 'pulse.db')), 'pulse.db is created in the working directory');
});

test('Broker.toml: [observability] metrics_bind serves /metrics there', async () => {
  const metricsPort = await freePort();
  const dir = brokerToml(`[observability]\nmetrics_bind = "127.0.0.1:${metricsPort}"\n`);
  await run(dir, ['--port', String(await freePort()), '--tcp-port', '0', '--mqtt-port', '0']);
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  assert.match(text, /^pulse_connections\{transport="mqtt"\} 0$/m);
});

test('Broker.toml: [server] bind and [server.tls] run MQTT over TLS there', async () => {
  const server = certificate('server-a', 'pulse test server');
  const port = await freePort();
  const dir = brokerToml(
    `[server]\nbind = "127.0.0.1:${port}"\n\n[server.tls]\nenabled = true\n` +
      `certificate_chain = "${server.cert}"\nprivate_key = "${server.key}"\n`,
  );
  await run(dir, await otherPorts());
  const url = `mqtts://127.0.0.1:${port}`;
  await roundTrip(url, url, 'seed/tls', { ca: readFileSync(server.cert) });
  await assert.rejects(mqttClient(url), /self[- ]signed/);
});

test('Broker.toml: [server.tls] client_auth = "required" with client_ca (mTLS)', async () => {
  const server = certificate('server-b', 'pulse test server');
  const ca = certificate('client-ca', 'pulse test client CA');
  const device = certificate('device', 'device-1', ca);
  const port = await freePort();
  const dir = brokerToml(
    `[server.tls]\nenabled = true\ncertificate_chain = "${server.cert}"\nprivate_key = "${server.key}"\n` +
      `client_auth = "required"\nclient_ca = "${ca.cert}"\n`,
  );
  await run(dir, [...(await otherPorts()), '--bind', `127.0.0.1:${port}`]);
  const url = `mqtts://127.0.0.1:${port}`;
  const trust = { ca: readFileSync(server.cert) };
  await assert.rejects(mqttClient(url, trust));
  await roundTrip(url, url, 'seed/mtls', {
    ...trust,
    cert: readFileSync(device.cert),
    key: readFileSync(device.key),
  });
});

test('Broker.toml: worker_threads is ignored with one warning; wal engine, commit policy and throttle load', async () => {
  const dir = brokerToml(
    '[server]\nworker_threads = 8\n\n[storage]\nengine = "wal"\nwal_dir = "data/wal"\n' +
      'commit_policy = "balanced" # strict, balanced, or fast\n\n' +
      '[limits]\nslow_consumer_policy = "throttle" # throttle, disconnect, or queue-offline\n',
  );
  const mqttPort = await freePort();
  const p = await run(dir, [...(await otherPorts()), '--mqtt-port', String(mqttPort)]);
  const warnings = logLines(p, 'worker_threads');
  assert.equal(warnings.length, 1);
  assert.equal(at(warnings, 0).level, 40, 'logged as a warning');
  assert.match(
    String(at(warnings, 0).msg),
    /Broker\.toml \[server\] worker_threads = 8 is ignored: Pulse has no thread count; to use more cores run worker processes with server\.workers/,
  );
  const restored = logLines(p, 'state restored')[0];
  assert.deepEqual([restored?.engine, restored?.commit_policy], ['sqlite', 'balanced']);
  assert.ok(existsSync(join(dir, 'data/wal/pulse.db')));
  const url = `mqtt://127.0.0.1:${mqttPort}`;
  await roundTrip(url, url, 'seed/wal');
});

test('Broker.toml: [websocket] enabled/bind/path is an MQTT-over-WebSocket listener of its own', async () => {
  const [wsPort, mqttPort] = [await freePort(), await freePort()];
  const dir = brokerToml(`[websocket]\nenabled = true\nbind = "127.0.0.1:${wsPort}"\npath = "/mqtt"\n`);
  const p = await run(dir, [...(await otherPorts()), '--mqtt-port', String(mqttPort)]);
  assert.equal(logLines(p, 'pulse listening')[0]?.mqtt_ws_listener, `127.0.0.1:${wsPort}/mqtt`);
  // Across listeners: WebSocket on the seed's port to TCP, and back.
  await roundTrip(`ws://127.0.0.1:${wsPort}/mqtt`, `mqtt://127.0.0.1:${mqttPort}`, 'seed/ws-to-tcp');
  await roundTrip(`mqtt://127.0.0.1:${mqttPort}`, `ws://127.0.0.1:${wsPort}/mqtt`, 'seed/tcp-to-ws');
  // It serves MQTT upgrades only: a plain request is told to upgrade.
  assert.equal((await fetch(`http://127.0.0.1:${wsPort}/health`)).status, 426);
  // Shutdown closes it with the others: a client on it is let go and the process exits 0.
  const client = await mqttClient(`ws://127.0.0.1:${wsPort}/mqtt`);
  p.child.kill('SIGTERM');
  assert.equal(await p.exited, 0);
  await client.gone;
});

test('Broker.toml: [websocket] tls = true serves wss:// with the [server.tls] certificate', async () => {
  const server = certificate('server-c', 'pulse test server');
  const [wsPort, mqttPort] = [await freePort(), await freePort()];
  const dir = brokerToml(
    `[server]\nbind = "127.0.0.1:${mqttPort}"\n\n[server.tls]\nenabled = true\n` +
      `certificate_chain = "${server.cert}"\nprivate_key = "${server.key}"\n\n` +
      `[websocket]\nenabled = true\nbind = "127.0.0.1:${wsPort}"\npath = "/mqtt"\ntls = true\n`,
  );
  await run(dir, await otherPorts());
  const trust = { ca: readFileSync(server.cert) };
  await roundTrip(`wss://127.0.0.1:${wsPort}/mqtt`, `mqtts://127.0.0.1:${mqttPort}`, 'seed/wss', trust);
});

test('Broker.toml: [auth] with [[auth.users]] and [[auth.acl]] (default-deny)', async () => {
  const mqttPort = await freePort();
  const dir = brokerToml(
    '[auth]\nenabled = true\n\n[[auth.users]]\nusername = "alice"\npassword = "secret"\n\n' +
      '[[auth.acl]]\nusername = "alice"\naction = "publish"\ntopic_filter = "devices/alice/#"\n',
  );
  await run(dir, [...(await otherPorts()), '--mqtt-port', String(mqttPort)]);
  const url = `mqtt://127.0.0.1:${mqttPort}`;
  await assert.rejects(mqttClient(url, { username: 'alice', password: 'wrong' }));
  const alice = await mqttClient(url, { username: 'alice', password: 'secret', protocolVersion: 5 });
  try {
    await alice.publishAsync('devices/alice/temp', '1', { qos: 1 });
    await assert.rejects(
      alice.publishAsync('devices/bob/temp', '1', { qos: 1 }),
      (err: { code?: number }) => err.code === 0x87,
      'outside the ACL: PUBACK 0x87 (not authorized)',
    );
  } finally {
    await endAll(alice);
  }
});

test('Broker.toml next to the pulse command is read when the working directory has none', async () => {
  const mqttPort = await freePort();
  const bin = brokerToml(`[server]\nbind = "127.0.0.1:${mqttPort}"\n`);
  const command = join(bin, 'pulse.js');
  symlinkSync(fileURLToPath(new URL('../src/cli.js', import.meta.url)), command);
  const elsewhere = join(root, 'empty');
  mkdirSync(elsewhere);
  const p = await run(elsewhere, await otherPorts(), command);
  assert.equal(logLines(p, 'configuration loaded')[0]?.file, join(bin, 'Broker.toml'));
  const url = `mqtt://127.0.0.1:${mqttPort}`;
  await roundTrip(url, url, 'seed/next-to-command');
});

test('pulse.toml in the working directory wins over Broker.toml', async () => {
  const dir = brokerToml('[server]\nbind = "127.0.0.1:1"\n');
  const mqttPort = await freePort();
  writeFileSync(join(dir, 'pulse.toml'), `[mqtt]\nport = ${mqttPort}\n`);
  const p = await run(dir, await otherPorts());
  assert.equal(logLines(p, 'configuration loaded')[0]?.file, join(dir, 'pulse.toml'));
  assert.equal(logLines(p, 'pulse listening')[0]?.mqtt, `127.0.0.1:${mqttPort}`);
});
