import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import { execFileSync, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type RequestOptions, get as httpsGet } from 'node:https';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import {
  type ClientTransport,
  Inlet,
  type Publication,
  PulseClient,
  type WebSocketConstructor,
} from '@pulse/client';
import WebSocket from 'ws';
import { verifiedCertificateName } from '../src/auth/certificate-name.js';
import type { PulseConfig } from '../src/config/index.js';
import type { TransportName } from '../src/server.js';
import type { Connection } from '../src/transport/connection.js';
import { type DeepPartial, Inbox, freePort, scrape, tcpClient } from './helpers.js';
import {
  type MqttHarness,
  connectPacket,
  encode,
  endAll,
  eventually,
  metric,
  mqttClient,
  run,
  startMqtt,
  uniqueId,
} from './mqtt-helpers.js';
import { spawnPulse } from './pulse-process.js';

const OPENSSL = '/usr/bin/openssl';
const PUB = '/usr/bin/mosquitto_pub';
const SUB = '/usr/bin/mosquitto_sub';
const cli = fileURLToPath(new URL('../src/cli.js', import.meta.url));

const dir = mkdtempSync(join(tmpdir(), 'pulse-tls-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// --- certificates, made here with the openssl command line -----------------------------------

interface Pem {
  cert: string;
  key: string;
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2'];

function openssl(name: string, args: string[]): Pem {
  const pem = { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
  execFileSync(OPENSSL, ['req', '-x509', ...EC_KEY, ...args, '-keyout', pem.key, '-out', pem.cert], {
    stdio: 'pipe',
  });
  return pem;
}

/** A self-signed server certificate for 127.0.0.1 and localhost (its own trust anchor). */
const serverCert = (cn: string) =>
  openssl(cn, ['-subj', `/CN=${cn}`, '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost']);
/** A CA for client certificates. */
const authority = (cn: string) => openssl(cn.replace(/ /g, '-'), ['-subj', `/CN=${cn}`]);
/** A client certificate issued by `ca`. */
const clientCert = (cn: string, ca: Pem) =>
  openssl(cn, [
    '-subj',
    `/CN=${cn}`,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-addext',
    'basicConstraints=critical,CA:FALSE',
    '-addext',
    'extendedKeyUsage=clientAuth',
  ]);

const certA = serverCert('pulse-a');
const certB = serverCert('pulse-b');
const clientCa = authority('Pulse Client CA');
const otherCa = authority('Some Other CA');
const device = clientCert('device-1', clientCa);
const intruder = clientCert('intruder', otherCa);

const trustA = readFileSync(certA.cert);
const trustB = readFileSync(certB.cert);
const withCert = (pem: Pem) => ({ cert: readFileSync(pem.cert), key: readFileSync(pem.key) });

/** Copies `from` to the paths a server was started with, as an operator renewing a certificate. */
function install(from: Pem, to: Pem): void {
  copyFileSync(from.cert, to.cert);
  copyFileSync(from.key, to.key);
}

// --- servers and clients ------------------------------------------------------------------------

/** Every listener on TLS with `pem`. */
function tlsOn(pem: Pem, tls: Partial<PulseConfig['tls']> = {}): DeepPartial<PulseConfig> {
  return {
    server: { tls: true },
    transport: { tls: true },
    mqtt: { tls: true },
    tls: { certificate_chain: pem.cert, private_key: pem.key, ...tls },
  };
}

const urls = (h: MqttHarness) => ({
  https: h.httpUrl.replace(/^http:/, 'https:'),
  wss: h.wsUrl.replace(/^ws:/, 'wss:'),
  mqtts: `mqtts://127.0.0.1:${h.mqttPort}`,
  mqttWss: h.mqttWsUrl.replace(/^ws:/, 'wss:'),
});

/** The `ws` package with TLS options (trusted CA, client certificate) for PulseClient.connect. */
function wsWith(options: ConnectionOptions): WebSocketConstructor {
  return class extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols, options);
    }
  } as unknown as WebSocketConstructor;
}

/** Native frames over TLS: `openTcp` from @pulse/client/tcp, with `tls.connect`. */
function openTls(port: number, options: ConnectionOptions): Promise<ClientTransport> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ...options });
    const inlet = new Inlet();
    socket.once('secureConnect', () => {
      socket.off('error', reject);
      socket.on('error', () => {});
      resolve({
        send: (bytes) => {
          socket.write(bytes);
        },
        close: () => socket.end(),
        attach: (onBytes, onClose) => inlet.attach(onBytes, onClose),
      });
    });
    socket.once('error', reject);
    socket.on('data', (chunk) => inlet.bytes(chunk));
    socket.on('close', () => inlet.close(1006, 'socket closed'));
  });
}

async function tlsClient(port: number, options: ConnectionOptions): Promise<PulseClient> {
  return PulseClient.over(await openTls(port, options), { requestTimeoutMs: 5000 });
}

function fetchHttps(url: string, options: RequestOptions): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    httpsGet(url, { ...options, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

/** The server's side of its client connections (reached into for the test). */
function serverConnections(h: MqttHarness): Connection[] {
  return [...(h.server as unknown as { connections: Set<Connection> }).connections];
}

/** The verified certificate name (as MQTT's use_identity_as_username reads it) of the server's connections of one transport, sorted. */
function namesOn(h: MqttHarness, transport: TransportName): (string | undefined)[] {
  return serverConnections(h)
    .filter((c) => c.stats === h.server.transportStats[transport])
    .map((c) => verifiedCertificateName(c.socket))
    .sort();
}

const text = (p: Publication) => `${p.channel}=${Buffer.from(p.payload).toString()}`;

const tlsErrors = (h: MqttHarness, listener: string) =>
  metric(h, `pulse_tls_handshake_errors_total{listener="${listener}"}`);

// --- tests ----------------------------------------------------------------------------------------

test('HTTPS, WSS, native TCP over TLS and MQTTS share one certificate; metrics stay plain HTTP', async () => {
  const h = await startMqtt(tlsOn(certA));
  const u = urls(h);
  const clients: PulseClient[] = [];
  try {
    const health = await fetchHttps(`${u.https}/health`, { ca: trustA });
    assert.equal(health.status, 200);
    assert.equal(JSON.parse(health.body).status, 'ok');

    const wss = await PulseClient.connect(u.wss, { WebSocket: wsWith({ ca: trustA }) });
    clients.push(wss);
    const inbox = new Inbox<Publication>();
    await wss.subscribe('tls/#', inbox.push);
    const mqtts = await mqttClient(u.mqtts, { ca: trustA });
    await mqtts.subscribeAsync('tls/#', { qos: 1 });
    const mqttWss = await mqttClient(u.mqttWss, { ca: trustA });
    const tcp = await tlsClient(h.tcpPort, { ca: trustA });
    clients.push(tcp);
    await tcp.publish('tls/tcp', 'native over tls');
    await mqtts.publishAsync('tls/mqtt', 'mqtts', { qos: 1 });
    await mqttWss.publishAsync('tls/mqtt-ws', 'mqtt over wss', { qos: 1 });
    await wss.publish('tls/wss', 'native over wss');
    assert.deepEqual((await inbox.waitFor(4)).map(text).sort(), [
      'tls/mqtt-ws=mqtt over wss',
      'tls/mqtt=mqtts',
      'tls/tcp=native over tls',
      'tls/wss=native over wss',
    ]);
    assert.equal((await mqtts.inbox.waitFor(4)).length, 4);
    const connections = serverConnections(h);
    assert.equal(connections.length, 4);
    for (const c of connections) {
      assert.equal((c.socket as { encrypted?: boolean }).encrypted, true, `${c.transport} is TLS`);
      assert.equal(verifiedCertificateName(c.socket), undefined, 'no client certificate, no name');
    }

    // A plain client on a TLS port, and a client that does not trust the certificate: refused.
    const plain = netConnect({ host: '127.0.0.1', port: h.mqttPort });
    plain.on('error', () => {});
    await once(plain, 'connect');
    plain.write(encode(connectPacket(4, { clientId: uniqueId() }), 4));
    await once(plain, 'close');
    await assert.rejects(mqttClient(u.mqtts), /self[- ]signed/);
    await assert.rejects(fetchHttps(`${u.https}/health`, {}), /self[- ]signed/);
    await eventually(async () => (await tlsErrors(h, 'mqtt')) >= 2, 'two MQTT handshake errors');
    await eventually(async () => (await tlsErrors(h, 'http')) >= 1, 'an HTTP handshake error');

    // The metrics listener is plain HTTP (bind it to loopback).
    assert.ok(h.metricsUrl.startsWith('http://'));
    const metrics = await scrape(h);
    assert.match(metrics, /pulse_tls_handshake_errors_total\{listener="tcp"\} 0/);
    assert.match(metrics, /pulse_tls_reloads_total\{result="ok"\} 0/);
    await endAll(mqtts, mqttWss);
  } finally {
    for (const c of clients) c.close();
    await h.stop();
  }
});

test('mosquitto_pub and mosquitto_sub over TLS with --cafile', async () => {
  const h = await startMqtt(tlsOn(certA));
  try {
    const tls = (cafile: string) => ['-h', '127.0.0.1', '-p', String(h.mqttPort), '--cafile', cafile];
    const id = uniqueId('mosq-tls');
    const sub = run(SUB, [...tls(certA.cert), '-i', id, '-t', 'mosq/tls', '-C', '1', '-W', '8', '-q', '1']);
    await eventually(
      () => (h.server.mqtt?.sessions.get(id)?.subscriptions.size ?? 0) >= 1,
      'mosquitto_sub to subscribe',
      5000,
    );
    const pub = await run(PUB, [...tls(certA.cert), '-t', 'mosq/tls', '-m', 'over tls', '-q', '1']).done;
    assert.equal(pub.code, 0, pub.stderr);
    const got = await sub.done;
    assert.equal(got.code, 0, got.stderr);
    assert.equal(got.stdout.trim(), 'over tls');
    // A CA file that does not sign the server's certificate: refused by the client.
    const wrong = await run(PUB, [...tls(certB.cert), '-t', 'mosq/tls', '-m', 'x']).done;
    assert.notEqual(wrong.code, 0);
  } finally {
    await h.stop();
  }
});

test('mTLS required: no certificate or one from another CA is refused; the CN names the client', async () => {
  const h = await startMqtt(tlsOn(certA, { client_auth: 'required', client_ca: clientCa.cert }));
  const u = urls(h);
  const clients: PulseClient[] = [];
  try {
    // Refused on every listener, before any protocol byte.
    for (const options of [{ ca: trustA }, { ca: trustA, ...withCert(intruder) }]) {
      await assert.rejects(tlsClient(h.tcpPort, options));
      await assert.rejects(PulseClient.connect(u.wss, { WebSocket: wsWith(options) }));
      await assert.rejects(mqttClient(u.mqtts, options));
      await assert.rejects(fetchHttps(`${u.https}/health`, options));
    }
    assert.equal(serverConnections(h).length, 0);

    // Accepted with a certificate of tls.client_ca, whose CN verifiedCertificateName() gives.
    const good = { ca: trustA, ...withCert(device) };
    clients.push(await tlsClient(h.tcpPort, good));
    clients.push(await PulseClient.connect(u.wss, { WebSocket: wsWith(good) }));
    const mqtts = await mqttClient(u.mqtts, good);
    const mqttWss = await mqttClient(u.mqttWss, good);
    assert.equal((await fetchHttps(`${u.https}/health`, good)).status, 200);
    assert.deepEqual(namesOn(h, 'tcp'), ['device-1']);
    assert.deepEqual(namesOn(h, 'ws'), ['device-1']);
    assert.deepEqual(namesOn(h, 'mqtt'), ['device-1']);
    assert.deepEqual(namesOn(h, 'mqtt_ws'), ['device-1']);
    await endAll(mqtts, mqttWss);

    // mosquitto_pub with and without --cert/--key.
    const base = ['-h', '127.0.0.1', '-p', String(h.mqttPort), '--cafile', certA.cert, '-t', 'mtls/x'];
    const withKey = await run(PUB, [...base, '--cert', device.cert, '--key', device.key, '-m', 'ok']).done;
    assert.equal(withKey.code, 0, withKey.stderr);
    const without = await run(PUB, [...base, '-m', 'refused']).done;
    assert.notEqual(without.code, 0);
    const wrongCa = await run(PUB, [...base, '--cert', intruder.cert, '--key', intruder.key, '-m', 'x']).done;
    assert.notEqual(wrongCa.code, 0);

    for (const listener of ['tcp', 'http', 'mqtt']) {
      await eventually(async () => (await tlsErrors(h, listener)) >= 2, `${listener} handshake errors`);
    }
  } finally {
    for (const c of clients) c.close();
    await h.stop();
  }
});

test('mTLS optional: no certificate is anonymous, a valid one is named, an invalid one is refused', async () => {
  // Native TCP stays plain here: a plain connection has no certificate name either.
  const h = await startMqtt({
    ...tlsOn(certA, { client_auth: 'optional', client_ca: clientCa.cert }),
    transport: { tls: false },
  });
  const u = urls(h);
  const clients: PulseClient[] = [];
  const anonymous = { ca: trustA };
  const named = { ca: trustA, ...withCert(device) };
  const invalid = { ca: trustA, ...withCert(intruder) };
  try {
    const mqtts = [await mqttClient(u.mqtts, anonymous), await mqttClient(u.mqtts, named)];
    await assert.rejects(mqttClient(u.mqtts, invalid));
    clients.push(await PulseClient.connect(u.wss, { WebSocket: wsWith(anonymous) }));
    clients.push(await PulseClient.connect(u.wss, { WebSocket: wsWith(named) }));
    await assert.rejects(PulseClient.connect(u.wss, { WebSocket: wsWith(invalid) }));
    assert.equal((await fetchHttps(`${u.https}/health`, anonymous)).status, 200);
    assert.equal((await fetchHttps(`${u.https}/health`, named)).status, 200);
    await assert.rejects(fetchHttps(`${u.https}/health`, invalid));
    clients.push(await tcpClient(h));
    assert.deepEqual(namesOn(h, 'mqtt'), ['device-1', undefined]);
    assert.deepEqual(namesOn(h, 'ws'), ['device-1', undefined]);
    assert.deepEqual(namesOn(h, 'tcp'), [undefined]);
    await eventually(async () => (await tlsErrors(h, 'mqtt')) === 1, 'one MQTT handshake refused');
    await eventually(async () => (await tlsErrors(h, 'http')) === 2, 'two HTTPS handshakes refused');
    assert.doesNotMatch(await scrape(h), /pulse_tls_handshake_errors_total\{listener="tcp"\}/);
    await endAll(...mqtts);
  } finally {
    for (const c of clients) c.close();
    await h.stop();
  }
});

test('reloadTls: open connections keep going, new handshakes get the new certificate, bad files change nothing', async () => {
  const live = { cert: join(dir, 'live.pem'), key: join(dir, 'live.key') };
  install(certA, live);
  const h = await startMqtt(tlsOn(live));
  const u = urls(h);
  const clients: PulseClient[] = [];
  try {
    const first = await mqttClient(u.mqtts, { ca: trustA });
    await first.subscribeAsync('reload/#', { qos: 1 });
    const wss = await PulseClient.connect(u.wss, { WebSocket: wsWith({ ca: trustA }) });
    clients.push(wss);
    const inbox = new Inbox<Publication>();
    await wss.subscribe('reload/#', inbox.push);

    install(certB, live);
    assert.deepEqual(h.server.reloadTls(), { ok: true });

    // Connections made with certificate A carry on, both ways.
    await first.publishAsync('reload/mqtt', 'after reload', { qos: 1 });
    await wss.publish('reload/wss', 'after reload too');
    assert.deepEqual((await inbox.waitFor(2)).map(text).sort(), [
      'reload/mqtt=after reload',
      'reload/wss=after reload too',
    ]);
    assert.equal((await first.inbox.waitFor(2)).length, 2);

    // New handshakes present B: clients trusting only A fail.
    const second = await mqttClient(u.mqtts, { ca: trustB });
    await assert.rejects(mqttClient(u.mqtts, { ca: trustA }));
    clients.push(await tlsClient(h.tcpPort, { ca: trustB }));
    await assert.rejects(tlsClient(h.tcpPort, { ca: trustA }));
    assert.equal((await fetchHttps(`${u.https}/health`, { ca: trustB })).status, 200);
    await assert.rejects(fetchHttps(`${u.https}/health`, { ca: trustA }));

    // Unusable files: an error naming the key, and B stays in use.
    writeFileSync(live.key, 'not a key\n');
    const garbage = h.server.reloadTls();
    assert.equal(garbage.ok, false);
    assert.match(
      garbage.ok ? '' : garbage.error,
      /^tls: tls\.private_key = ".*live\.key": holds no PEM private key/,
    );
    copyFileSync(certA.key, live.key);
    const mismatch = h.server.reloadTls();
    assert.match(mismatch.ok ? '' : mismatch.error, /tls\.private_key .*is not the key of the certificate/);
    rmSync(live.cert);
    const missing = h.server.reloadTls();
    assert.match(missing.ok ? '' : missing.error, /tls\.certificate_chain .*no such file \(ENOENT\)/);
    const third = await mqttClient(u.mqtts, { ca: trustB });
    await assert.rejects(mqttClient(u.mqtts, { ca: trustA }));
    await first.publishAsync('reload/mqtt', 'still up', { qos: 1 });
    await inbox.waitFor(3);

    const metrics = await scrape(h);
    assert.match(metrics, /pulse_tls_reloads_total\{result="ok"\} 1\n/);
    assert.match(metrics, /pulse_tls_reloads_total\{result="error"\} 3\n/);
    await endAll(first, second, third);
  } finally {
    for (const c of clients) c.close();
    await h.stop();
  }
});

test('a running pulse reloads its certificate on SIGHUP and keeps its connections', async () => {
  const live = { cert: join(dir, 'hup.pem'), key: join(dir, 'hup.key') };
  install(certA, live);
  const mqttPort = await freePort();
  const pulse = spawnPulse([
    ...['--port', '0', '--tcp-port', '0', '--metrics-port', '0'],
    ...['--bind', `127.0.0.1:${mqttPort}`, '--tls'],
    ...['--tls-certificate-chain', live.cert, '--tls-private-key', live.key],
  ]);
  const url = `mqtts://127.0.0.1:${mqttPort}`;
  try {
    await pulse.ready;
    assert.match(pulse.output(), /"tls":"mqtt"/);
    const first = await mqttClient(url, { ca: trustA });
    await first.subscribeAsync('hup/#', { qos: 1 });

    install(certB, live);
    pulse.child.kill('SIGHUP');
    await eventually(
      () => pulse.output().includes('"tls certificates reloaded"'),
      'the reload log line',
      5000,
    );
    await first.publishAsync('hup/1', 'still connected', { qos: 1 });
    assert.equal(at(await first.inbox.waitFor(1), 0).payload.toString(), 'still connected');
    const second = await mqttClient(url, { ca: trustB });
    await assert.rejects(mqttClient(url, { ca: trustA }));

    writeFileSync(live.cert, 'garbage\n');
    pulse.child.kill('SIGHUP');
    await eventually(() => pulse.output().includes('"tls reload failed'), 'the reload error line', 5000);
    assert.match(pulse.output(), /tls\.certificate_chain = .*hup\.pem.*holds no PEM certificate/);
    const third = await mqttClient(url, { ca: trustB });
    await first.publishAsync('hup/2', 'after a failed reload', { qos: 1 });
    await first.inbox.waitFor(2);
    assert.equal(pulse.child.exitCode, null);
    await endAll(first, second, third);
  } finally {
    await pulse.kill();
  }
});

test('an unusable certificate file stops start-up with one line naming the key and the path, exit 1', () => {
  const start = (args: string[]) =>
    spawnSync(
      process.execPath,
      [
        cli,
        '--port',
        '0',
        '--tcp-port',
        '0',
        '--metrics-port',
        '0',
        '--mqtt-port',
        '0',
        '--server-tls',
        ...args,
      ],
      { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' }, timeout: 10_000 },
    );
  const assertOneLine = (args: string[], pattern: RegExp) => {
    const result = start(args);
    assert.equal(result.status, 1, result.stderr);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    assert.match(at(lines, 0), /^pulse: tls: /);
    assert.match(at(lines, 0), pattern);
  };
  const missing = join(dir, 'missing.key');
  const garbage = join(dir, 'garbage.pem');
  writeFileSync(garbage, 'not a certificate\n');
  const files = (cert: string, key: string) => ['--tls-certificate-chain', cert, '--tls-private-key', key];

  assertOneLine(
    files(certA.cert, missing),
    /^pulse: tls: tls\.private_key = ".*missing\.key": cannot read the file: no such file \(ENOENT\)$/,
  );
  assertOneLine(
    files(garbage, certA.key),
    /tls\.certificate_chain = ".*garbage\.pem": holds no PEM certificate/,
  );
  assertOneLine(files(certA.cert, garbage), /tls\.private_key = ".*garbage\.pem": holds no PEM private key/);
  assertOneLine(files(certA.cert, certB.key), /tls\.private_key = ".*pulse-b\.key": is not the key of the/);
  const encrypted = join(dir, 'encrypted.key');
  execFileSync(OPENSSL, ['pkey', '-in', certA.key, '-aes256', '-passout', 'pass:secret', '-out', encrypted]);
  assertOneLine(files(certA.cert, encrypted), /tls\.private_key = ".*encrypted\.key": is encrypted/);
  assertOneLine(
    [...files(certA.cert, certA.key), '--tls-client-auth', 'required', '--tls-client-ca', missing],
    /tls\.client_ca = ".*missing\.key": cannot read the file/,
  );
});
