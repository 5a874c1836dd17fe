import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { type Socket, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ErrorCode, decodeFrame, encodeFrame } from '@pulse/protocol';
import type { PulseConfig } from '../src/config/index.js';
import { type DeepPartial, type Harness, metricValue, scrape, sleep, startServer } from './helpers.js';
import { type MqttHarness, connectPacket, encode, startMqtt } from './mqtt-helpers.js';
import { RawWsSocket, maskedFrame } from './raw-ws-socket.js';

// A deadline of 1 s and a byte every 200 ms: a silence timer would never fire, the deadline must.
const DEADLINE_MS = 1000;
const EVERY_MS = 200;
// The heartbeat sweep checks deadlines every DEADLINE_MS / 4; the machine may be loaded.
const LATEST_CLOSE_MS = 4000;

const short: DeepPartial<PulseConfig> = { limits: { handshake_timeout_ms: DEADLINE_MS } };
const withUsers: DeepPartial<PulseConfig> = {
  ...short,
  auth: { enabled: true, users: [{ username: 'ann', password_hash: '', password: 'ann-pass' }] },
};
const withJwt: DeepPartial<PulseConfig> = {
  ...short,
  auth: { enabled: true, jwt_hmac_secret: 'x'.repeat(32) },
};

/**
 * Writes `bytes` one at a time, EVERY_MS apart, until they run out or the socket closes;
 * resolves with how long after `since` the socket closed, and what the server sent.
 */
async function dribbleUntilClosed(
  socket: Socket,
  bytes: Buffer,
  since: number,
): Promise<{ closedAfterMs: number; sentBytes: number; received: Buffer }> {
  const received: Buffer[] = [];
  socket.on('data', (c: Buffer) => received.push(c));
  socket.on('error', () => {});
  const closed = once(socket, 'close').then(() => Date.now() - since);
  let sent = 0;
  let done = false;
  void closed.then(() => {
    done = true;
  });
  while (!done && sent < bytes.length) {
    socket.write(bytes.subarray(sent, sent + 1));
    sent++;
    await sleep(EVERY_MS);
  }
  const closedAfterMs = await Promise.race([
    closed,
    sleep(LATEST_CLOSE_MS).then(() => Number.POSITIVE_INFINITY),
  ]);
  socket.destroy();
  return { closedAfterMs, sentBytes: sent, received: Buffer.concat(received) };
}

async function openTcp(port: number): Promise<{ socket: Socket; since: number }> {
  const since = Date.now();
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  return { socket, since };
}

function assertCutAtDeadline(result: { closedAfterMs: number; sentBytes: number }, bytes: Buffer): void {
  assert.ok(
    result.sentBytes < bytes.length,
    `closed before the handshake was complete (${result.sentBytes} bytes sent)`,
  );
  assert.ok(
    result.closedAfterMs >= DEADLINE_MS - 100,
    `not closed before the deadline (${result.closedAfterMs} ms)`,
  );
  assert.ok(
    result.closedAfterMs < LATEST_CLOSE_MS,
    `closed soon after the deadline (${result.closedAfterMs} ms)`,
  );
}

async function handshakeTimeouts(h: Harness, transport: string): Promise<number> {
  return metricValue(await scrape(h), `pulse_handshake_timeouts_total{transport="${transport}"}`);
}

// A CONNECT with a will and credentials: long enough to dribble for several seconds.
const connectBytes = encode(
  connectPacket(4, {
    username: 'ann',
    password: Buffer.from('ann-pass'),
    will: { topic: 'wills/dribbler', payload: Buffer.from('x'), qos: 0, retain: false },
  }),
  4,
);

describe('limits.handshake_timeout_ms is a deadline from the accept, not a silence timer', () => {
  const servers: Harness[] = [];
  const start = async (overrides: DeepPartial<PulseConfig>, mqtt = false): Promise<MqttHarness> => {
    const h = mqtt ? await startMqtt(overrides) : ((await startServer(overrides)) as MqttHarness);
    servers.push(h);
    return h;
  };
  after(() => Promise.all(servers.map((h) => h.stop())));

  for (const [name, config] of [
    ['without auth', short],
    ['with auth', withUsers],
  ] as const) {
    test(`MQTT over TCP ${name}: a CONNECT dribbled a byte every ${EVERY_MS} ms is cut off at the deadline`, async () => {
      const h = await start(config, true);
      const { socket, since } = await openTcp(h.mqttPort);
      const result = await dribbleUntilClosed(socket, connectBytes, since);
      assertCutAtDeadline(result, connectBytes);
      assert.equal(result.received.length, 0, 'no CONNACK');
      assert.equal(await handshakeTimeouts(h, 'mqtt'), 1);
    });
  }

  test('MQTT over WebSocket: the deadline counts from the TCP accept, the upgrade included', async () => {
    const h = await start(short, true);
    const since = Date.now();
    const raw = await RawWsSocket.open(Number(new URL(h.httpUrl).port), '/mqtt', 'mqtt');
    const frameBytes = maskedFrame(connectBytes);
    const result = await dribbleUntilClosed(raw.socket, frameBytes, since);
    assertCutAtDeadline(result, frameBytes);
    assert.equal(await handshakeTimeouts(h, 'mqtt_ws'), 1);
  });

  test('an upgrade that takes most of the deadline leaves only the rest for CONNECT', async () => {
    const h = await start({ limits: { handshake_timeout_ms: 2000 } }, true);
    const { socket, since } = await openTcp(Number(new URL(h.httpUrl).port));
    await sleep(1500);
    const upgrade =
      'GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n';
    const received: Buffer[] = [];
    socket.on('data', (c: Buffer) => received.push(c));
    socket.write(upgrade);
    await once(socket, 'close');
    const closedAfterMs = Date.now() - since;
    assert.match(Buffer.concat(received).toString('latin1'), /^HTTP\/1.1 101 /);
    // From the upgrade it would have been 1500 + 2000 ms.
    assert.ok(closedAfterMs < 3200, `closed ${closedAfterMs} ms after the accept`);
  });

  test('HTTP: upgrade headers dribbled past the deadline get 408 and the close', async () => {
    const h = await start(short);
    const { socket, since } = await openTcp(Number(new URL(h.httpUrl).port));
    const request = Buffer.from(
      `GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${'X-Pad: y\r\n'.repeat(10)}\r\n`,
    );
    const result = await dribbleUntilClosed(socket, request, since);
    assertCutAtDeadline(result, request);
    assert.match(result.received.toString('latin1'), /^HTTP\/1.1 408 /);
  });

  test('native over TCP with auth: a connect dribbled past the deadline gets error 1003, then the close', async () => {
    const h = await start(withJwt);
    const { socket, since } = await openTcp(h.tcpPort);
    const frame = encodeFrame({ type: 'connect', version: 1, token: 'a'.repeat(40) });
    const result = await dribbleUntilClosed(socket, frame, since);
    assertCutAtDeadline(result, frame);
    const length = result.received.readUInt32BE(0);
    const error = decodeFrame(result.received.subarray(4, 4 + length));
    assert.deepEqual(error, {
      type: 'error',
      id: 0,
      code: ErrorCode.Unauthorized,
      message: 'no connect with a valid token in time',
    });
    assert.equal(await handshakeTimeouts(h, 'tcp'), 1);
  });

  test('native over WebSocket with auth: silent after the upgrade, closed at the deadline', async () => {
    const h = await start(withJwt);
    const since = Date.now();
    const raw = await RawWsSocket.open(Number(new URL(h.httpUrl).port), '/ws');
    await raw.closed;
    const closedAfterMs = Date.now() - since;
    assert.ok(closedAfterMs >= DEADLINE_MS - 100 && closedAfterMs < LATEST_CLOSE_MS, `${closedAfterMs} ms`);
    assert.match(raw.bytes.toString('latin1'), /no connect with a valid token in time/);
  });

  test('connected in time: the deadline no longer applies', async () => {
    const h = await start(short, true);
    const { socket } = await openTcp(h.mqttPort);
    socket.write(encode(connectPacket(4, { keepalive: 60 }), 4));
    await once(socket, 'data');
    await sleep(DEADLINE_MS * 2);
    assert.equal(socket.destroyed, false);
    socket.write(encode({ cmd: 'pingreq' }, 4));
    const [pong] = (await once(socket, 'data')) as [Buffer];
    assert.deepEqual([...pong], [0xd0, 0x00]);
    socket.destroy();
  });
});

describe('TLS: the handshake itself is bounded by the deadline', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-deadline-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a client that opens a TLS port and never sends a ClientHello is closed at the deadline', async () => {
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'ignore' },
    );
    const h = await startMqtt({
      ...short,
      mqtt: { tls: true },
      tls: { certificate_chain: cert, private_key: key },
    });
    try {
      const { socket, since } = await openTcp(h.mqttPort);
      socket.on('error', () => {});
      await once(socket, 'close');
      const closedAfterMs = Date.now() - since;
      assert.ok(closedAfterMs >= DEADLINE_MS - 100 && closedAfterMs < LATEST_CLOSE_MS, `${closedAfterMs} ms`);
    } finally {
      await h.stop();
    }
  });
});
