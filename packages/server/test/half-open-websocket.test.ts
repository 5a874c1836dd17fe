import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { encodeFrame } from '@pulse/protocol';
import { type Harness, Inbox, RawWs, metricValue, scrape, startServer, wsClient } from './helpers.js';
import {
  type MqttHarness,
  connectPacket,
  encode,
  endAll,
  eventually,
  mqttClient,
  startMqtt,
  within,
} from './mqtt-helpers.js';
import { RawWsSocket } from './raw-ws-socket.js';

// The default heartbeat (30 s ping, 60 s timeout) would only notice these clients after a
// minute; each test expects the server to act on the peer's FIN within a few seconds.
const PROMPTLY_MS = 3000;

interface PresenceSeen {
  action: string;
  connectionId: string;
}

const httpPort = (h: Harness) => Number(new URL(h.httpUrl).port);

async function openConnections(h: Harness, transport: string): Promise<number> {
  return metricValue(await scrape(h), `pulse_connections{transport="${transport}"}`);
}

describe('a WebSocket peer that ends its TCP stream without a close frame is closed at once', () => {
  let h: Harness;
  before(async () => {
    h = await startServer();
  });
  after(() => h.stop());

  async function watchLobby() {
    const watcher = await wsClient(h);
    const events = new Inbox<PresenceSeen>();
    watcher.onPresence(events.push);
    await watcher.subscribe('lobby', () => {});
    return { watcher, events };
  }

  test('native /ws, ws.terminate(): the presence leave reaches a bystander, pulse_connections drops', async () => {
    const { watcher, events } = await watchLobby();
    const victim = await RawWs.open(h.wsUrl);
    victim.send({ type: 'presence', id: 1, channel: 'lobby', action: 0, data: { name: 'victim' } });
    await victim.frames.waitFor(2);
    const [join] = await events.waitFor(1);
    assert.ok(join !== undefined);
    assert.equal(join.action, 'join');
    assert.equal(await openConnections(h, 'ws'), 2);
    victim.ws.terminate();
    const [, leave] = await events.waitFor(2, PROMPTLY_MS);
    assert.ok(leave !== undefined);
    assert.deepEqual([leave.action, leave.connectionId], ['leave', join.connectionId]);
    await eventually(async () => (await openConnections(h, 'ws')) === 1, 'pulse_connections{ws} = 1');
    await watcher.close();
  });

  test('native /ws, raw socket: upgrade, presence join, FIN: leave, and the server closes its side', async () => {
    const { watcher, events } = await watchLobby();
    const raw = await RawWsSocket.open(httpPort(h), '/ws');
    raw.send(encodeFrame({ type: 'presence', id: 1, channel: 'lobby', action: 0, data: {} }));
    const [join] = await events.waitFor(1);
    assert.ok(join !== undefined);
    raw.socket.end();
    const [, leave] = await events.waitFor(2, PROMPTLY_MS);
    assert.ok(leave !== undefined);
    assert.deepEqual([leave.action, leave.connectionId], ['leave', join.connectionId]);
    // The socket closes only once the server has sent its FIN too: no CLOSE-WAIT left behind.
    await within(raw.closed, PROMPTLY_MS, 'the server to close its side');
    await watcher.close();
  });
});

describe('MQTT over WebSocket: a FIN without DISCONNECT', () => {
  let h: MqttHarness;
  before(async () => {
    // No cap on keep alive: a 3.1.1 client may ask for none.
    h = await startMqtt({ mqtt: { max_keepalive: 0 } });
  });
  after(() => h.stop());

  test('keep alive 0: the will is published at once and the connection closes', async () => {
    const bystander = await mqttClient(h.tcpUrl);
    await bystander.subscribeAsync('wills/#');
    const raw = await RawWsSocket.open(httpPort(h), '/mqtt', 'mqtt');
    const will = { topic: 'wills/fin', payload: Buffer.from('gone'), qos: 0 as const, retain: false };
    raw.send(encode(connectPacket(4, { keepalive: 0, will }), 4));
    // CONNACK accepted, in one binary message: 0x82 0x04 | 0x20 0x02 0x00 0x00.
    await eventually(() => raw.bytes.length >= 6, 'CONNACK');
    assert.deepEqual([...raw.bytes.subarray(0, 6)], [0x82, 0x04, 0x20, 0x02, 0x00, 0x00]);
    assert.equal(await openConnections(h, 'mqtt_ws'), 1);
    raw.socket.end();
    const [message] = await bystander.inbox.waitFor(1, PROMPTLY_MS);
    assert.ok(message !== undefined);
    assert.equal(message.topic, 'wills/fin');
    assert.equal(message.payload.toString(), 'gone');
    await within(raw.closed, PROMPTLY_MS, 'the server to close its side');
    assert.equal(await openConnections(h, 'mqtt_ws'), 0);
    await endAll(bystander);
  });
});
