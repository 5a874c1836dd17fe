// mqtt.max_keepalive as Mosquitto applies it: keep alive 0 (none) is past any maximum.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { IConnackPacket } from 'mqtt-packet';
import {
  type MqttVersion,
  RawMqtt,
  connectPacket,
  endAll,
  mqttClientWithConnack,
  refusedWith,
  run,
  uniqueId,
  withMqtt,
} from './mqtt-helpers.js';

/** The CONNACK of a raw CONNECT asking for `keepalive` (3 = 3.1, 4 = 3.1.1, 5). */
async function connackFor(port: number, version: MqttVersion, keepalive: number): Promise<IConnackPacket> {
  const raw = await RawMqtt.open(port, version);
  raw.send(connectPacket(version, { keepalive, clientId: uniqueId('ka').slice(0, 23) }));
  const connack = (await raw.next('connack')) as IConnackPacket;
  raw.destroy();
  return connack;
}

test('default mqtt.max_keepalive (65535): a v5 client asking for keep alive 0 is told 65535; 3.1.1 and 3.1 ones are refused with 2', async () => {
  await withMqtt({}, async (h) => {
    const v5 = await mqttClientWithConnack(h.tcpUrl, { protocolVersion: 5, keepalive: 0 });
    assert.equal(v5.connack.reasonCode, 0);
    assert.equal(v5.connack.properties?.serverKeepAlive, 65_535);
    const asked = await mqttClientWithConnack(h.tcpUrl, { protocolVersion: 5, keepalive: 65_535 });
    assert.equal(asked.connack.properties?.serverKeepAlive, undefined, 'within the maximum: not told');
    assert.equal(await refusedWith(h.tcpUrl, { protocolVersion: 4, keepalive: 0 }), 2);
    assert.equal(await refusedWith(h.mqttWsUrl, { protocolVersion: 4, keepalive: 0 }), 2);
    assert.equal((await connackFor(h.mqttPort, 3, 0)).returnCode, 2);
    assert.equal((await connackFor(h.mqttPort, 4, 65_535)).returnCode, 0);
    await endAll(v5.client, asked.client);
  });
});

test('mqtt.max_keepalive: a 3.1.1 or 3.1 client asking for more is refused with 2 (it cannot be told less)', async () => {
  await withMqtt({ mqtt: { max_keepalive: 30 } }, async (h) => {
    for (const version of [3, 4] as const) {
      assert.equal((await connackFor(h.mqttPort, version, 31)).returnCode, 2, `${version}: 31`);
      assert.equal((await connackFor(h.mqttPort, version, 0)).returnCode, 2, `${version}: 0`);
      assert.equal((await connackFor(h.mqttPort, version, 30)).returnCode, 0, `${version}: 30`);
    }
    const v5 = await connackFor(h.mqttPort, 5, 31);
    assert.equal(v5.reasonCode, 0);
    assert.equal(v5.properties?.serverKeepAlive, 30);
    // mosquitto_sub (its keep alive is 5 to 65535) is told the same.
    const sub = run('/usr/bin/mosquitto_sub', [
      ...['-h', '127.0.0.1', '-p', String(h.mqttPort), '-V', 'mqttv311', '-k', '60'],
      ...['-t', 'x', '-C', '1'],
    ]);
    const result = await sub.done;
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /identifier rejected/i, result.stderr);
  });
});

test('mqtt.max_keepalive = 0: no cap, keep alive 0 granted to every version and never timed out', async () => {
  await withMqtt({ mqtt: { max_keepalive: 0 } }, async (h) => {
    const { raw: none5, connack } = await RawMqtt.connect(h.mqttPort, 5, { keepalive: 0 });
    assert.equal(connack.properties?.serverKeepAlive, undefined);
    const { raw: none4 } = await RawMqtt.connect(h.mqttPort, 4, { keepalive: 0 });
    const { raw: none3 } = await RawMqtt.connect(h.mqttPort, 3, { keepalive: 0, clientId: 'none-v31' });
    const { raw: silent } = await RawMqtt.connect(h.mqttPort, 4, { keepalive: 1 });
    try {
      await silent.expectClosed(4000);
      assert.deepEqual(
        [none5.isClosed, none4.isClosed, none3.isClosed],
        [false, false, false],
        'keep alive 0 outlives a silent keep alive 1',
      );
    } finally {
      for (const raw of [none5, none4, none3]) raw.destroy();
    }
  });
});
