// One mqtt-packet parser serves every MQTT connection (protocol/src/mqtt/codec.ts): hostile
// CONNECTs and packets on one connection must not change how another's packets are read.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  RawMqtt,
  lstr,
  mqttClient,
  rawConnect,
  rawPacket,
  uniqueId,
  varint,
  withMqtt,
} from './mqtt-helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Byte sequences of one hostile connection each: odd levels, the bridge bit, CONNECTs failing midway, malformed packets after a CONNECT. */
const attacks: Buffer[][] = [
  [rawConnect({ level: 0x85 })],
  [rawConnect({ level: 0x84 }), rawPacket(0x82, [0, 1], lstr('bys/x'), [0x0d])],
  [rawConnect({ level: 0x83 })],
  [rawConnect({ level: 7 })],
  [rawConnect({ level: 5, props: Buffer.from([0x11, 0, 0, 0]) })],
  [rawConnect({ level: 5, flags: 0x06 })],
  [rawConnect({ level: 5 }).subarray(0, 12)],
  [rawPacket(0x10, lstr('MQTT'), [5, 2, 0, 60], varint(3), [0x26, 0, 1])],
  [rawPacket(0x10, lstr('MQTT'), [5, 2, 0, 60], [0xff, 0xff, 0xff, 0x7f])],
  [rawConnect({ level: 4 }), rawPacket(0x82, [0, 1], lstr('a'), [0x03, 0x00])],
  [rawConnect({ level: 5 }), rawPacket(0x82, [0, 1], [5, 0x0b, 0x80, 0x80, 0x80, 0x80], lstr('a'), [1])],
  [rawConnect({ level: 5 }), rawPacket(0x82, [0, 1, 0], lstr('a'), [1], [9, 9, 9])],
  [rawConnect({ level: 4 }), rawPacket(0xa2, [0, 1], lstr('a'), [1, 2, 3])],
  [rawConnect({ level: 5 }), rawPacket(0xe0, [0x00, 0x02, 0x11])],
  [rawConnect({ level: 5 }), rawPacket(0xf0, [0x00, 0x00])],
  [rawConnect({ level: 4 }), rawPacket(0xf0, [0x00, 0x00])],
  [
    rawConnect({ level: 5 }),
    rawPacket(0x30, lstr('bys/evil'), [0x05, 0x23, 0, 1, 0x23, 0], Buffer.from('evil')),
  ],
  [rawConnect({ level: 4 }), rawConnect({ level: 5 })],
  [rawConnect({ level: 5 }), rawConnect({ level: 4 })],
];

test('hostile connections interleaved with v5 and 3.1.1 bystanders: every bystander SUBSCRIBE granted, every publication delivered, none disconnected', async () => {
  await withMqtt({ mqtt: { max_keepalive: 0 } }, async (h) => {
    const sub5 = await mqttClient(h.tcpUrl, { protocolVersion: 5, clientId: uniqueId('s5') });
    const sub4 = await mqttClient(h.tcpUrl, { protocolVersion: 4, clientId: uniqueId('s4') });
    const got5: string[] = [];
    const got4: string[] = [];
    sub5.on('message', (_t, p) => got5.push(p.toString()));
    sub4.on('message', (_t, p) => got4.push(p.toString()));
    await sub5.subscribeAsync('bys/#', { qos: 1 });
    await sub4.subscribeAsync('bys/#', { qos: 1 });
    const pub5 = await mqttClient(h.tcpUrl, { protocolVersion: 5, clientId: uniqueId('p5') });
    const pub4 = await mqttClient(h.tcpUrl, { protocolVersion: 4, clientId: uniqueId('p4') });
    let n = 0;
    for (let round = 0; round < 3; round++) {
      for (const attack of attacks) {
        const raw = await RawMqtt.open(h.mqttPort, 5);
        for (const bytes of attack) raw.write(bytes);
        const properties = { userProperties: { a: 'b' }, contentType: 'x', messageExpiryInterval: 60 };
        pub5.publish(`bys/${n}`, `m5-${n}`, { qos: 1, properties });
        pub4.publish(`bys/${n}`, `m4-${n}`, { qos: 1 });
        // Packets the parser reads (not the fast path), in both versions, between hostile ones.
        const granted5 = await sub5.subscribeAsync(`z/${n}`, {
          qos: 1,
          properties: { subscriptionIdentifier: n + 1, userProperties: { k: 'v' } },
        });
        assert.equal(granted5[0]?.qos, 1, `v5 SUBSCRIBE ${n}`);
        const granted4 = await sub4.subscribeAsync(`z/${n}`, { qos: 2 });
        assert.equal(granted4[0]?.qos, 2, `3.1.1 SUBSCRIBE ${n}`);
        n++;
        await sleep(5);
        raw.destroy();
      }
    }
    await sleep(300);
    assert.equal(got5.length, 2 * n, 'the v5 subscriber got every publication');
    assert.equal(got4.length, 2 * n, 'the 3.1.1 subscriber got every publication');
    for (const c of [sub5, sub4, pub5, pub4]) assert.ok(c.connected);
    await Promise.all([sub5, sub4, pub5, pub4].map((c) => c.endAsync()));
  });
});
