// mqtt.max_sessions: sessions held at once, connected and disconnected together.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { IClientOptions } from 'mqtt';
import type { IConnackPacket, Packet } from 'mqtt-packet';
import {
  RawMqtt,
  connectPacket,
  encode,
  endAll,
  metric,
  mqttClientWithConnack,
  refusedWith,
  run,
  startMqtt,
  uniqueId,
  withMqtt,
} from './mqtt-helpers.js';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A persistent session left behind: connected, subscribed, disconnected. */
async function leaveSession(url: string, clientId: string, version: 4 | 5): Promise<void> {
  const options: IClientOptions =
    version === 5
      ? { protocolVersion: 5, clientId, clean: false, properties: { sessionExpiryInterval: 3600 } }
      : { protocolVersion: 4, clientId, clean: false };
  const { client, connack } = await mqttClientWithConnack(url, options);
  assert.equal(connack.sessionPresent, false);
  await client.subscribeAsync(`held/${clientId}`, { qos: 1 });
  await client.endAsync();
}

test('mqtt.max_sessions: a CONNECT that would start one more session is refused (0x97 / 3), counting connected ones; taking one over is not', async () => {
  await withMqtt({ mqtt: { max_sessions: 3 } }, async (h) => {
    const v5Id = uniqueId('held5');
    const v4Id = uniqueId('held4');
    await leaveSession(h.tcpUrl, v5Id, 5);
    await leaveSession(h.tcpUrl, v4Id, 4);
    // A session that ends with its connection still holds its state while connected: it counts.
    const live = await mqttClientWithConnack(h.tcpUrl, { protocolVersion: 5, clientId: uniqueId('live') });
    assert.equal(await metric(h, 'pulse_mqtt_sessions'), 3);

    // A new client id, in every version and over WebSocket too.
    assert.equal(await refusedWith(h.tcpUrl, { protocolVersion: 5, clientId: uniqueId('new') }), 0x97);
    assert.equal(
      await refusedWith(h.mqttWsUrl, { protocolVersion: 5, clientId: '' }),
      0x97,
      'an assigned id is new too',
    );
    assert.equal(await refusedWith(h.tcpUrl, { protocolVersion: 4, clientId: uniqueId('new') }), 3);
    const raw = await RawMqtt.open(h.mqttPort, 5);
    raw.send(connectPacket(5, { keepalive: 60 }));
    const connack = (await raw.next('connack')) as IConnackPacket;
    assert.equal(connack.reasonCode, 0x97);
    assert.equal(connack.properties?.reasonString, 'too many sessions (mqtt.max_sessions = 3)');
    await raw.expectClosed();
    const v3 = await RawMqtt.open(h.mqttPort, 3);
    v3.send(connectPacket(3, { clientId: 'new-v31', keepalive: 60 }));
    assert.equal(((await v3.next('connack')) as IConnackPacket).returnCode, 3);
    await v3.expectClosed();
    // mosquitto_sub, 3.1.1 and 5, is told so too.
    for (const version of ['mqttv311', 'mqttv5']) {
      const sub = run('/usr/bin/mosquitto_sub', [
        ...['-h', '127.0.0.1', '-p', String(h.mqttPort), '-V', version],
        ...['-i', uniqueId('mosq'), '-t', 'x', '-C', '1'],
      ]);
      const result = await sub.done;
      assert.notEqual(result.code, 0, `${version}: refused`);
      const said = version === 'mqttv5' ? /quota exceeded/i : /unavailable/i;
      assert.match(result.stderr, said, `${version}: ${result.stderr}`);
    }
    assert.equal(await metric(h, 'pulse_mqtt_sessions'), 3, 'none of the refused got a session');
    assert.equal(await metric(h, 'pulse_mqtt_sessions_refused_total'), 7);

    // Resuming a held session, taking a connected one over, or starting one clean on a held
    // id: each replaces a session, none adds one.
    const back = await mqttClientWithConnack(h.tcpUrl, {
      protocolVersion: 5,
      clientId: v5Id,
      clean: false,
      properties: { sessionExpiryInterval: 3600 },
    });
    assert.equal(back.connack.sessionPresent, true);
    const clean = await mqttClientWithConnack(h.tcpUrl, { protocolVersion: 4, clientId: v4Id, clean: true });
    assert.equal(clean.connack.sessionPresent, false);
    const liveId = live.client.options.clientId;
    const takeover = await mqttClientWithConnack(h.tcpUrl, { protocolVersion: 5, clientId: liveId });
    assert.equal(takeover.connack.reasonCode, 0);
    assert.equal(await metric(h, 'pulse_mqtt_sessions'), 3);

    // A clean session that ends with its connection makes room.
    await clean.client.endAsync();
    const next = await mqttClientWithConnack(h.tcpUrl, { protocolVersion: 4, clientId: uniqueId('next') });
    assert.equal(next.connack.returnCode, 0);
    assert.equal(await metric(h, 'pulse_mqtt_sessions_refused_total'), 7);
    await endAll(live.client, back.client, takeover.client, next.client);
  });
});

test('mqtt.max_sessions = 0: no limit', async () => {
  await withMqtt({ mqtt: { max_sessions: 0 } }, async (h) => {
    for (let i = 0; i < 5; i++) await leaveSession(h.tcpUrl, uniqueId('many'), 5);
    assert.equal(await metric(h, 'pulse_mqtt_sessions'), 5);
    assert.equal(await metric(h, 'pulse_mqtt_sessions_refused_total'), 0);
  });
});

test('mqtt.max_sessions: sessions restored from SQLite count; more stored than the limit are all kept', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-max-sessions-'));
  dirs.push(dir);
  const storage = { engine: 'sqlite' as const, path: join(dir, 'pulse.db') };
  const ids = [uniqueId('stored'), uniqueId('stored'), uniqueId('stored')];
  const first = await startMqtt({ storage, mqtt: { max_sessions: 3 } });
  try {
    for (const id of ids) await leaveSession(first.tcpUrl, id, 5);
  } finally {
    await first.stop();
  }
  const again = await startMqtt({ storage, mqtt: { max_sessions: 3 } });
  try {
    assert.equal(await metric(again, 'pulse_mqtt_sessions_restored_total'), 3);
    assert.equal(await refusedWith(again.tcpUrl, { protocolVersion: 5, clientId: uniqueId('new') }), 0x97);
  } finally {
    await again.stop();
  }
  // The limit lowered below what is stored: nothing is deleted, new sessions wait.
  const lowered = await startMqtt({ storage, mqtt: { max_sessions: 2 } });
  try {
    assert.equal(await metric(lowered, 'pulse_mqtt_sessions'), 3);
    assert.equal(await refusedWith(lowered.tcpUrl, { protocolVersion: 4, clientId: uniqueId('new') }), 3);
    const { client, connack } = await mqttClientWithConnack(lowered.tcpUrl, {
      protocolVersion: 5,
      clientId: ids[0],
      clean: false,
      properties: { sessionExpiryInterval: 3600 },
    });
    assert.equal(connack.sessionPresent, true, 'a stored session is resumed');
    await endAll(client);
  } finally {
    await lowered.stop();
  }
});

test('mqtt.max_sessions: every way a session ends gives its room back (churn never fills the limit)', async () => {
  await withMqtt({ mqtt: { max_sessions: 2 } }, async (h) => {
    const settle = async (what: string, held: number) => {
      await new Promise((r) => setTimeout(r, 150));
      assert.equal(await metric(h, 'pulse_mqtt_sessions'), held, what);
    };
    for (let i = 0; i < 3; i++) {
      const { client } = await mqttClientWithConnack(h.tcpUrl, {
        protocolVersion: 4,
        clientId: uniqueId('c'),
      });
      await client.endAsync();
    }
    await settle('clean 3.1.1 sessions, DISCONNECT', 0);
    for (let i = 0; i < 3; i++) (await RawMqtt.connect(h.mqttPort, 5)).raw.destroy();
    await settle('v5, socket dropped', 0);
    for (let i = 0; i < 3; i++) {
      const raw = await RawMqtt.open(h.mqttPort, 5);
      raw.socket.end(encode(connectPacket(5)));
      await raw.closed;
    }
    await settle('CONNECT then FIN before the CONNACK', 0);
    for (const second of [encode(connectPacket(5)), Buffer.from([0xf0, 0x00])]) {
      for (let i = 0; i < 3; i++) {
        const raw = await RawMqtt.open(h.mqttPort, 5);
        raw.write(Buffer.concat([encode(connectPacket(5)), second]));
        await raw.closed;
      }
    }
    await settle('closed for a protocol error right after CONNECT', 0);
    for (let i = 0; i < 3; i++) {
      const { raw } = await RawMqtt.connect(h.mqttPort, 5, {
        clientId: uniqueId('d'),
        properties: { sessionExpiryInterval: 100 },
      });
      raw.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 0 } } as Packet);
      await raw.closed;
    }
    await settle('DISCONNECT setting the session expiry to 0', 0);
    for (let i = 0; i < 2; i++) {
      const { raw } = await RawMqtt.connect(h.mqttPort, 5, {
        clientId: uniqueId('w'),
        properties: { sessionExpiryInterval: 1 },
        will: {
          topic: 'will',
          payload: Buffer.from('x'),
          qos: 0,
          retain: false,
          properties: { willDelayInterval: 5 },
        },
      });
      raw.destroy();
    }
    await settle('expiring sessions with delayed wills are held', 2);
    await new Promise((r) => setTimeout(r, 1200));
    await settle('their expiry ends them (and sends the wills)', 0);
    const id = uniqueId('t');
    const takers: RawMqtt[] = [];
    for (let i = 0; i < 4; i++)
      takers.push((await RawMqtt.connect(h.mqttPort, 5, { clientId: id, clean: i % 2 === 0 })).raw);
    await settle('takeovers, clean or not, hold one session', 1);
    const { raw: last } = await RawMqtt.connect(h.mqttPort, 5);
    for (const raw of [...takers, last]) raw.destroy();
    assert.equal(await metric(h, 'pulse_mqtt_sessions_refused_total'), 0);
  });
});
