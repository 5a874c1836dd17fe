import assert from 'node:assert/strict';
import { connect as tcpConnect, type Socket } from 'node:net';
import { test } from 'node:test';
import type { IConnackPacket } from 'mqtt-packet';
import { MAX_REFUSALS_ANSWERING } from '../src/admission.js';
import { freePort, metricValue, scrape, startServer } from './helpers.js';
import {
  RawMqtt,
  connectPacket,
  endAll,
  mqttClient,
  mqttClientWithConnack,
  refusedConnack,
  withMqtt,
} from './mqtt-helpers.js';

test('MQTT over limits.max_connections: CONNACK 0x97 Quota exceeded (5) or 3 Server unavailable (3.1.1, 3.1), TCP and WebSocket, then closed', async () => {
  await withMqtt({ limits: { max_connections: 1 } }, async (h) => {
    const first = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    assert.equal((await refusedConnack(h.mqttPort, 5)).reasonCode, 0x97);
    assert.equal((await refusedConnack(h.mqttPort, 4)).returnCode, 3);
    assert.equal((await refusedConnack(h.mqttPort, 3)).returnCode, 3);
    await assert.rejects(
      mqttClientWithConnack(h.mqttWsUrl, { protocolVersion: 5 }),
      (err: Error & { code?: number }) => {
        assert.equal(err.code, 0x97);
        return true;
      },
    );
    const metrics = await scrape(h);
    assert.equal(metricValue(metrics, 'pulse_connections_rejected_total{reason="max_connections"}'), 4);
    assert.equal(h.server.mqtt?.stats.connectionsOpen, 1, 'refused connections never got a session');
    assert.equal(h.server.connectionCount, 1);
    await endAll(first);
  });
});

test('MQTT CONNECT waiting for its connect hook when the server drains: CONNACK 0x8B Server shutting down (5) or 3 (3.1.1)', async () => {
  const mqttPort = await freePort();
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  const h = await startServer(
    { mqtt: { port: mqttPort }, server: { shutdown_drain_timeout_ms: 3000 } },
    {
      hooks: {
        async connect() {
          await held;
          return { result: 'allow' };
        },
      },
    },
  );
  let stopped: Promise<void> | undefined;
  try {
    const v5 = await RawMqtt.open(mqttPort, 5);
    const v4 = await RawMqtt.open(mqttPort, 4);
    const connected = await RawMqtt.open(mqttPort, 5);
    v5.send(connectPacket(5));
    v4.send(connectPacket(4));
    // Until the first CONNECTs are waiting on the hook, then let later ones through.
    await new Promise((r) => setTimeout(r, 100));
    stopped = h.stop();
    const [a, b] = await Promise.all([v5.next('connack'), v4.next('connack')]);
    assert.equal((a as IConnackPacket).reasonCode, 0x8b);
    assert.equal((b as IConnackPacket).returnCode, 3);
    await Promise.all([v5.expectClosed(), v4.expectClosed()]);
    // A connection that never spoke is closed without a word.
    await connected.expectClosed();
    assert.equal(connected.packets.items.length, 0);
    assert.equal(h.server.mqtt?.stats.connectionsAccepted, 0, 'no CONNECT was accepted');
  } finally {
    release();
    await (stopped ?? h.stop());
  }
});

test('a flood of refused connections holds at most MAX_REFUSALS_ANSWERING sockets: past it they are closed at once, unanswered, and counted', async () => {
  await withMqtt({ limits: { max_connections: 1 } }, async (h) => {
    const first = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    const flood = MAX_REFUSALS_ANSWERING + 200;
    // A CONNECT cut short before its protocol level: each refusal would wait for the rest.
    const partial = Buffer.concat([Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f, 0, 4]), Buffer.from('MQTT')]);
    let closed = 0;
    const sockets = await Promise.all(
      Array.from(
        { length: flood },
        () =>
          new Promise<Socket>((resolve, reject) => {
            const socket = tcpConnect(h.mqttPort, '127.0.0.1', () => {
              socket.write(partial);
              resolve(socket);
            });
            socket.on('error', () => {});
            socket.once('close', () => closed++);
            socket.once('error', reject);
          }),
      ),
    );
    // Well within the 2 s a refusal waits for its CONNECT.
    const deadline = Date.now() + 1000;
    while (closed < flood - MAX_REFUSALS_ANSWERING && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(closed, flood - MAX_REFUSALS_ANSWERING, 'the refusals past the cap were closed at once');
    const metrics = await scrape(h);
    assert.equal(
      metricValue(metrics, 'pulse_connections_refused_unanswered_total'),
      flood - MAX_REFUSALS_ANSWERING,
    );
    assert.equal(metricValue(metrics, 'pulse_connections_rejected_total{reason="max_connections"}'), flood);
    for (const socket of sockets) socket.destroy();
    // Once the held refusals have closed, a refused client is answered again.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await refusedConnack(h.mqttPort, 5)).reasonCode, 0x97);
    assert.equal(h.server.connectionCount, 1);
    assert.ok(first.connected, 'the admitted client was never disturbed');
    await endAll(first);
  });
});
