import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type { IConnackPacket, IPubackPacket, IPublishPacket, ISubackPacket } from 'mqtt-packet';
import { hashPassword } from '../src/auth/passwords.js';
import { type PulseConfig, defaultConfig } from '../src/config/index.js';
import { createLogger } from '../src/log.js';
import { PulseServer } from '../src/server.js';
import { SECRET, now, sign, token } from './auth-helpers.js';
import { type DeepPartial, freePort, metricValue, scrape, sleep } from './helpers.js';
import {
  type MqttHarness,
  RawMqtt,
  connectPacket,
  endAll,
  mqttClient,
  run,
  startMqtt,
  uniqueId,
} from './mqtt-helpers.js';
import { spawnPulse } from './pulse-process.js';

const cli = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'pulse-auth-mqtt-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const NOT_AUTHORIZED = 0x87;
const BAD_CREDENTIALS = 0x86;

let aliceHash = '';
const ACL: PulseConfig['auth']['acl'] = [
  { username: 'alice', action: 'publish', topic_filter: 'devices/%u/#' },
  { username: 'alice', action: 'subscribe', topic_filter: 'alice/#' },
  { username: 'alice', action: 'publish', topic_filter: 'alice/#' },
  { username: '*', action: 'subscribe', topic_filter: 'public/#' },
  { username: '*', action: 'all', topic_filter: 'clients/%c/#' },
  { username: 'bob', action: 'all', topic_filter: 'bob/#' },
];

function authConfig(extra: Partial<PulseConfig['auth']> = {}): DeepPartial<PulseConfig> {
  return {
    auth: {
      enabled: true,
      users: [
        { username: 'alice', password_hash: aliceHash, password: '' },
        { username: 'bob', password_hash: '', password: 'bob-pass' },
        { username: 'carol', password_hash: '', password: 'carol-pass' },
      ],
      acl: ACL,
      ...extra,
    },
  };
}

/** A raw v5 (or 3.1.1) connection with credentials; returns it with its CONNACK code. */
async function rawLogin(
  h: MqttHarness,
  version: 4 | 5,
  fields: Parameters<typeof connectPacket>[1],
): Promise<{ raw: RawMqtt; code: number }> {
  const raw = await RawMqtt.open(h.mqttPort, version);
  raw.send(connectPacket(version, fields));
  const connack = (await raw.next('connack')) as IConnackPacket;
  return { raw, code: (version === 5 ? connack.reasonCode : connack.returnCode) ?? 0 };
}

const creds = (username: string, password: string) => ({ username, password: Buffer.from(password) });

before(async () => {
  aliceHash = await hashPassword('alice-pass');
});

describe('MQTT users (scrypt hash and plain password) and ACLs', () => {
  let h: MqttHarness;
  before(async () => {
    h = await startMqtt(authConfig());
  });
  after(() => h.stop());

  test('CONNACK: right passwords accepted; wrong or unknown 0x86 (3.1.1: 4); none 0x87 (3.1.1: 5)', async () => {
    const cases: [4 | 5, Parameters<typeof connectPacket>[1], number][] = [
      [5, creds('alice', 'alice-pass'), 0],
      [5, creds('bob', 'bob-pass'), 0],
      [5, creds('alice', 'wrong'), BAD_CREDENTIALS],
      [5, creds('bob', 'bob-pass!'), BAD_CREDENTIALS],
      [5, creds('mallory', 'x'), BAD_CREDENTIALS],
      [5, { username: 'alice' }, BAD_CREDENTIALS],
      [5, {}, NOT_AUTHORIZED],
      [4, creds('alice', 'alice-pass'), 0],
      [4, creds('alice', 'wrong'), 4],
      [4, {}, 5],
    ];
    for (const [version, fields, expected] of cases) {
      const { raw, code } = await rawLogin(h, version, fields);
      assert.equal(code, expected, `v${version} ${JSON.stringify(fields)}`);
      if (expected !== 0) await raw.expectClosed();
      raw.destroy();
    }
  });

  test('MQTT.js v5 and 3.1.1 see the refusal codes', async () => {
    await assert.rejects(
      mqttClient(h.tcpUrl, { username: 'alice', password: 'nope', protocolVersion: 5 }),
      (e: Error & { code?: number }) => e.code === BAD_CREDENTIALS,
    );
    await assert.rejects(
      mqttClient(h.tcpUrl, { username: 'alice', password: 'nope', protocolVersion: 4 }),
      (e: Error & { code?: number }) => e.code === 4,
    );
    await assert.rejects(
      mqttClient(h.mqttWsUrl, { protocolVersion: 5 }),
      (e: Error & { code?: number }) => e.code === NOT_AUTHORIZED,
    );
    const ok = await mqttClient(h.mqttWsUrl, { username: 'bob', password: 'bob-pass', protocolVersion: 5 });
    await endAll(ok);
  });

  test('v5: SUBACK 0x87 and PUBACK/PUBREC 0x87 outside the ACL; allowed ones go through', async () => {
    const { raw } = await rawLogin(h, 5, { ...creds('alice', 'alice-pass'), clientId: 'cid-1' });
    raw.send({
      cmd: 'subscribe',
      messageId: 1,
      subscriptions: [
        { topic: 'public/#', qos: 1 },
        { topic: 'alice/+', qos: 0 },
        { topic: 'devices/alice/#', qos: 0 }, // publish only
        { topic: '#', qos: 0 },
        { topic: 'clients/cid-1/#', qos: 0 },
        { topic: 'clients/cid-2/#', qos: 0 },
        { topic: '$share/g/public/x', qos: 0 },
      ],
    });
    const suback = (await raw.next('suback')) as ISubackPacket;
    assert.deepEqual(suback.granted, [1, 0, NOT_AUTHORIZED, NOT_AUTHORIZED, 0, NOT_AUTHORIZED, 0]);
    raw.send({
      cmd: 'publish',
      topic: 'devices/alice/temp',
      payload: Buffer.from('1'),
      qos: 1,
      messageId: 2,
      retain: false,
      dup: false,
    });
    assert.equal(((await raw.next('puback')) as IPubackPacket).reasonCode, 0x10);
    raw.send({
      cmd: 'publish',
      topic: 'devices/bob/temp',
      payload: Buffer.from('1'),
      qos: 1,
      messageId: 3,
      retain: false,
      dup: false,
    });
    const denied = (await raw.next('puback')) as IPubackPacket;
    assert.equal(denied.reasonCode, NOT_AUTHORIZED);
    raw.send({
      cmd: 'publish',
      topic: 'public/x',
      payload: Buffer.from('1'),
      qos: 2,
      messageId: 4,
      retain: false,
      dup: false,
    });
    assert.equal(((await raw.next('pubrec')) as IPubackPacket).reasonCode, NOT_AUTHORIZED);
    // Delivery of what is allowed: alice publishes to alice/x, which she subscribed to.
    raw.send({
      cmd: 'publish',
      topic: 'alice/x',
      payload: Buffer.from('hi'),
      qos: 0,
      retain: false,
      dup: false,
    });
    const got = (await raw.next('publish')) as IPublishPacket;
    assert.equal(got.topic, 'alice/x');
    raw.destroy();
  });

  test('3.1.1: SUBACK 0x80; a refused QoS 0 publish is dropped, a refused QoS 1 publish closes the connection', async () => {
    const watcher = await mqttClient(h.tcpUrl, { username: 'bob', password: 'bob-pass' });
    await watcher.subscribeAsync('bob/#');
    const { raw } = await rawLogin(h, 4, creds('carol', 'carol-pass'));
    raw.send({
      cmd: 'subscribe',
      messageId: 1,
      subscriptions: [
        { topic: 'bob/#', qos: 0 },
        { topic: 'public/a', qos: 0 },
      ],
    });
    assert.deepEqual(((await raw.next('suback')) as ISubackPacket).granted, [0x80, 0]);
    raw.send({
      cmd: 'publish',
      topic: 'bob/x',
      payload: Buffer.from('q0'),
      qos: 0,
      retain: false,
      dup: false,
    });
    raw.send({ cmd: 'pingreq' });
    await raw.next('pingresp');
    raw.send({
      cmd: 'publish',
      topic: 'bob/x',
      payload: Buffer.from('q1'),
      qos: 1,
      messageId: 2,
      retain: false,
      dup: false,
    });
    await raw.expectClosed();
    await sleep(50);
    assert.equal(watcher.inbox.items.length, 0, 'nothing refused was delivered');
    await endAll(watcher);
  });

  test('default deny: a user without rules may do nothing but what "*" rules give', async () => {
    const { raw } = await rawLogin(h, 5, { ...creds('carol', 'carol-pass'), clientId: 'carols' });
    raw.send({
      cmd: 'subscribe',
      messageId: 1,
      subscriptions: [
        { topic: 'carol/#', qos: 0 },
        { topic: 'public/news', qos: 0 },
        { topic: 'clients/carols/in', qos: 0 },
      ],
    });
    assert.deepEqual(((await raw.next('suback')) as ISubackPacket).granted, [NOT_AUTHORIZED, 0, 0]);
    raw.destroy();
  });

  test('a will topic the client may not publish to refuses the CONNECT (0x87)', async () => {
    const { raw, code } = await rawLogin(h, 5, {
      ...creds('alice', 'alice-pass'),
      will: { topic: 'bob/will', payload: Buffer.from('bye'), qos: 0, retain: false },
    });
    assert.equal(code, NOT_AUTHORIZED);
    raw.destroy();
    const ok = await rawLogin(h, 5, {
      ...creds('alice', 'alice-pass'),
      will: { topic: 'devices/alice/will', payload: Buffer.from('bye'), qos: 0, retain: false },
    });
    assert.equal(ok.code, 0);
    ok.raw.destroy();
  });

  test("a client id held by another user's session is refused (0x87 / 3.1.1: 5): no takeover of its subscriptions or queue", async () => {
    const clientId = uniqueId('owned');
    const persistent = { clientId, clean: false, properties: { sessionExpiryInterval: 300 } };
    const first = await rawLogin(h, 5, { ...creds('alice', 'alice-pass'), ...persistent });
    first.raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'alice/#', qos: 1 }] });
    assert.deepEqual(((await first.raw.next('suback')) as ISubackPacket).granted, [1]);
    first.raw.send({ cmd: 'disconnect' });
    await first.raw.expectClosed();
    const publisher = await mqttClient(h.tcpUrl, { username: 'alice', password: 'alice-pass' });
    await publisher.publishAsync('alice/secret', 'for alice only', { qos: 1 });
    await endAll(publisher);
    // Offline with a queued message: bob may not take the client id, in either version.
    const v5 = await rawLogin(h, 5, { ...creds('bob', 'bob-pass'), ...persistent });
    assert.equal(v5.code, NOT_AUTHORIZED);
    await v5.raw.expectClosed();
    assert.deepEqual(
      v5.raw.unread().filter((p) => p.cmd === 'publish'),
      [],
    );
    const v4 = await rawLogin(h, 4, { ...creds('bob', 'bob-pass'), clientId, clean: false });
    assert.equal(v4.code, 5);
    await v4.raw.expectClosed();
    // Nor while alice is connected.
    const online = await rawLogin(h, 5, { ...creds('alice', 'alice-pass'), ...persistent });
    assert.equal(online.code, 0);
    const publish = (await online.raw.next('publish')) as IPublishPacket;
    assert.equal(publish.payload.toString(), 'for alice only');
    const takeover = await rawLogin(h, 5, { ...creds('bob', 'bob-pass'), ...persistent });
    assert.equal(takeover.code, NOT_AUTHORIZED);
    await online.raw.nothingFor(100, 'disconnect');
    // The owner is stored with the session, so the rule holds after a restart too.
    const stored = h.server.store.load(Date.now()).sessions.find((x) => x.session.clientId === clientId);
    assert.equal(stored?.session.user, 'alice');
    online.raw.destroy();
    takeover.raw.destroy();
  });

  test('failures and denials are counted for MQTT', async () => {
    const text = await scrape(h);
    assert.ok(metricValue(text, 'pulse_auth_failures_total{protocol="mqtt",reason="bad_password"}') >= 3);
    assert.ok(metricValue(text, 'pulse_auth_failures_total{protocol="mqtt",reason="unknown_user"}') >= 1);
    assert.ok(metricValue(text, 'pulse_auth_failures_total{protocol="mqtt",reason="no_credentials"}') >= 2);
    assert.ok(metricValue(text, 'pulse_auth_denied_total{protocol="mqtt",action="subscribe"}') >= 4);
    assert.ok(metricValue(text, 'pulse_auth_denied_total{protocol="mqtt",action="publish"}') >= 3);
  });

  test('mosquitto_pub / mosquitto_sub with -u and -P', async () => {
    const port = String(h.mqttPort);
    const sub = run('/usr/bin/mosquitto_sub', [
      '-p',
      port,
      '-u',
      'bob',
      '-P',
      'bob-pass',
      '-t',
      'bob/m',
      '-C',
      '1',
      '-W',
      '5',
    ]);
    await sleep(300);
    const pub = await run('/usr/bin/mosquitto_pub', [
      '-p',
      port,
      '-u',
      'bob',
      '-P',
      'bob-pass',
      '-t',
      'bob/m',
      '-m',
      'hello',
      '-q',
      '1',
    ]).done;
    assert.equal(pub.code, 0, pub.stderr);
    const got = await sub.done;
    assert.equal(got.stdout.trim(), 'hello');
    const bad = await run('/usr/bin/mosquitto_pub', [
      '-p',
      port,
      '-u',
      'bob',
      '-P',
      'wrong',
      '-t',
      'bob/m',
      '-m',
      'x',
    ]).done;
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /not authori[sz]ed|bad user name or password|refused/i);
  });
});

describe('JWT as the MQTT password', () => {
  let h: MqttHarness;
  before(async () => {
    h = await startMqtt(authConfig({ jwt_hmac_secret: SECRET }));
  });
  after(() => h.stop());

  test('any user name with a JWT password; its channels claim applies (not the ACL); bad JWTs 0x86', async () => {
    const t = await token('jay', ['jwt/#']);
    const { raw, code } = await rawLogin(h, 5, creds('anything', t));
    assert.equal(code, 0);
    raw.send({
      cmd: 'subscribe',
      messageId: 1,
      subscriptions: [
        { topic: 'jwt/+', qos: 0 },
        { topic: 'public/x', qos: 0 },
      ],
    });
    assert.deepEqual(((await raw.next('suback')) as ISubackPacket).granted, [0, NOT_AUTHORIZED]);
    raw.destroy();
    for (const bad of [await sign({ sub: 'jay', exp: now() - 1 }), `${t}x`, 'e30.e30.']) {
      const r = await rawLogin(h, 5, creds('anything', bad));
      assert.equal(r.code, BAD_CREDENTIALS);
      r.raw.destroy();
    }
    // A known user with a JWT password works too (the password is tried, then the JWT).
    const r = await rawLogin(h, 4, creds('alice', t));
    assert.equal(r.code, 0);
    r.raw.destroy();
  });

  test('a JWT password that expires: v5 DISCONNECT 0xA0 (maximum connect time), 3.1.1 closed', async () => {
    const short = await sign({ sub: 'jay', exp: now() + 2 });
    const v5 = await rawLogin(h, 5, creds('x', short));
    const v4 = await rawLogin(h, 4, creds('x', short));
    assert.equal(v5.code, 0);
    assert.equal(v4.code, 0);
    const disconnect = await v5.raw.expectDisconnect(0xa0, 4000);
    assert.match(String(disconnect.properties?.reasonString), /token expired/);
    await v4.raw.expectClosed(1000);
  });

  test('auth.jwt_mqtt_password = false: a JWT is just a wrong password', async () => {
    const off = await startMqtt(authConfig({ jwt_hmac_secret: SECRET, jwt_mqtt_password: false }));
    try {
      const r = await rawLogin(off, 5, creds('anything', await token('jay')));
      assert.equal(r.code, BAD_CREDENTIALS);
      r.raw.destroy();
    } finally {
      await off.stop();
    }
  });
});

describe('plain passwords and pulse passwd', () => {
  test('a plain-text password is accepted with a start-up warning', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const config = defaultConfig();
    config.auth.enabled = true;
    config.auth.users = [{ username: 'bob', password_hash: '', password: 'bob-pass' }];
    config.auth.acl = ACL;
    const server = new PulseServer(config, { logger: createLogger('info', sink) });
    void server;
    const warning = lines.map((l) => JSON.parse(l)).find((l) => /plain-text password/.test(l.msg));
    assert.ok(warning, lines.join(''));
    assert.equal(warning.level, 40);
    assert.equal(warning.user, 'bob');
    assert.ok(!lines.join('').includes('bob-pass'), 'the password itself is never logged');
  });

  test('pulse passwd: stdin or --password, prints the hash; the hash logs in (end to end, CLI server)', async () => {
    const fromStdin = spawnSync(process.execPath, [cli, 'passwd'], { input: 's3cret', encoding: 'utf8' });
    assert.equal(fromStdin.status, 0, fromStdin.stderr);
    const hash = fromStdin.stdout.trim();
    assert.match(hash, /^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    assert.equal(fromStdin.stdout.split('\n').length, 2, 'one line');
    const fromFlag = spawnSync(process.execPath, [cli, 'passwd', '--password', 's3cret'], {
      encoding: 'utf8',
    });
    assert.equal(fromFlag.status, 0);
    assert.match(fromFlag.stdout, /^scrypt\$/);
    const empty = spawnSync(process.execPath, [cli, 'passwd'], { input: '', encoding: 'utf8' });
    assert.equal(empty.status, 2);

    const [port, mqttPort] = [await freePort(), await freePort()];
    const file = join(dir, 'pulse.toml');
    writeFileSync(
      file,
      `[server]
port = ${port}
[transport]
tcp_port = 0
[metrics]
port = 0
[mqtt]
port = ${mqttPort}
[auth]
enabled = true
[[auth.users]]
username = "dana"
password_hash = "${hash}"
[[auth.acl]]
username = "dana"
action = "all"
topic_filter = "dana/#"
`,
    );
    const pulse = spawnPulse(['--config', file]);
    try {
      await pulse.ready;
      const base = [
        '-h',
        '127.0.0.1',
        '-p',
        String(mqttPort),
        '-t',
        'dana/x',
        '-m',
        'hi',
        '-q',
        '1',
        '-u',
        'dana',
      ];
      const ok = await run('/usr/bin/mosquitto_pub', [...base, '-P', 's3cret']).done;
      assert.equal(ok.code, 0, ok.stderr);
      const bad = await run('/usr/bin/mosquitto_pub', [...base, '-P', 's3cret2']).done;
      assert.notEqual(bad.code, 0);
    } finally {
      await pulse.kill();
    }
  });
});

describe('tls.use_identity_as_username', () => {
  const OPENSSL = '/usr/bin/openssl';
  const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2'];
  const make = (name: string, args: string[]) => {
    const pem = { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
    execFileSync(OPENSSL, ['req', '-x509', ...EC, ...args, '-keyout', pem.key, '-out', pem.cert], {
      stdio: 'pipe',
    });
    return pem;
  };

  test('the client certificate CN is the user name: no password needed, its ACL applies', async () => {
    const server = make('server', ['-subj', '/CN=server', '-addext', 'subjectAltName=IP:127.0.0.1']);
    const ca = make('ca', ['-subj', '/CN=Client CA']);
    const alice = make('alice', [
      '-subj',
      '/CN=alice',
      '-CA',
      ca.cert,
      '-CAkey',
      ca.key,
      '-addext',
      'basicConstraints=critical,CA:FALSE',
      '-addext',
      'extendedKeyUsage=clientAuth',
    ]);
    const h = await startMqtt({
      ...authConfig(),
      mqtt: { tls: true },
      tls: {
        certificate_chain: server.cert,
        private_key: server.key,
        client_auth: 'optional',
        client_ca: ca.cert,
        use_identity_as_username: true,
      },
    });
    const tlsOptions = {
      ca: readFileSync(server.cert),
      cert: readFileSync(alice.cert),
      key: readFileSync(alice.key),
    };
    try {
      const client = await mqttClient(`mqtts://127.0.0.1:${h.mqttPort}`, {
        ...tlsOptions,
        protocolVersion: 5,
      });
      const granted = await client.subscribeAsync('alice/#');
      assert.equal(at(granted, 0).qos, 0);
      await assert.rejects(client.subscribeAsync('bob/#'), /Not authorized/);
      await endAll(client);
      // Without a certificate: the user name and password are checked as usual.
      await assert.rejects(
        mqttClient(`mqtts://127.0.0.1:${h.mqttPort}`, { ca: tlsOptions.ca, protocolVersion: 5 }),
        (e: Error & { code?: number }) => e.code === NOT_AUTHORIZED,
      );
      const bob = await mqttClient(`mqtts://127.0.0.1:${h.mqttPort}`, {
        ca: tlsOptions.ca,
        username: 'bob',
        password: 'bob-pass',
      });
      await endAll(bob);
    } finally {
      await h.stop();
    }
  });
});
