import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Packet } from 'mqtt-packet';
import { MqttDecoder } from '../src/mqtt/codec.js';

const require = createRequire(import.meta.url);
const mqttPacket = require('mqtt-packet') as typeof import('mqtt-packet');

const generate = (packet: Packet, protocolVersion: 4 | 5): Buffer =>
  mqttPacket.generate(packet, { protocolVersion });

const connect = (protocolVersion: 4 | 5): Buffer =>
  generate(
    {
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion,
      clean: true,
      keepalive: 60,
      clientId: `c${protocolVersion}`,
      will: { topic: 'w', payload: Buffer.alloc(1000), qos: 0, retain: false },
    } as Packet,
    protocolVersion,
  );

const subscribeV5 = (): Buffer =>
  generate(
    {
      cmd: 'subscribe',
      messageId: 7,
      subscriptions: [{ topic: 'a/+', qos: 1, nl: true, rap: false, rh: 0 }],
      properties: { subscriptionIdentifier: 42, userProperties: { k: 'v' } },
    } as Packet,
    5,
  );

const subscribeV4 = (): Buffer =>
  generate({ cmd: 'subscribe', messageId: 8, subscriptions: [{ topic: 'b/#', qos: 2 }] } as Packet, 4);

test('decoders share one parser: each reads its packets in its own version, interleaved', () => {
  const v5 = new MqttDecoder();
  const v4 = new MqttDecoder();
  assert.equal((v5.decode(connect(5)) as { protocolVersion: number }).protocolVersion, 5);
  assert.equal((v4.decode(connect(4)) as { protocolVersion: number }).protocolVersion, 4);
  for (let i = 0; i < 3; i++) {
    const a = v5.decode(subscribeV5()) as Packet & { properties?: { subscriptionIdentifier?: number } };
    assert.ok(!(a instanceof Error), String(a));
    assert.equal(a.properties?.subscriptionIdentifier, 42);
    const b = v4.decode(subscribeV4()) as Packet & { subscriptions: { topic: string; qos: number }[] };
    assert.ok(!(b instanceof Error), String(b));
    assert.deepEqual(b.subscriptions, [{ topic: 'b/#', qos: 2 }]);
    // Read in 3.1.1, the v5 packet's property length would be taken for the filter's length.
    assert.ok(!('properties' in b) || b.properties === undefined);
  }
});

test("one decoder's malformed packet leaves the next decoder's packets whole", () => {
  const bad = new MqttDecoder();
  const good = new MqttDecoder();
  good.decode(connect(5));
  bad.decode(connect(4));
  // A SUBSCRIBE whose remaining length covers a filter cut short.
  const cut = Buffer.from([0x82, 0x05, 0x00, 0x01, 0x00, 0x09, 0x61]);
  assert.ok(bad.decode(cut) instanceof Error);
  const after = good.decode(subscribeV5()) as Packet & { messageId?: number };
  assert.ok(!(after instanceof Error), String(after));
  assert.equal(after.messageId, 7);
  // And the one that failed still reads in its version.
  const again = bad.decode(subscribeV4()) as Packet & { messageId?: number };
  assert.ok(!(again instanceof Error), String(again));
  assert.equal(again.messageId, 8);
});

test('a decoder keeps only what the parser needs of the CONNECT, not the packet', () => {
  const decoder = new MqttDecoder();
  const packet = decoder.decode(connect(5));
  assert.ok(!(packet instanceof Error));
  const kept = (decoder as unknown as { settings: object }).settings;
  assert.notEqual(kept, packet);
  assert.deepEqual(Object.keys(kept).sort(), ['bridgeMode', 'protocolVersion']);
});

test('the shared parser does not keep the last CONNECT (its password, its will) once it is decoded', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const decoder = new MqttDecoder();
  let packet: Packet | Error | undefined = decoder.decode(connect(5));
  assert.ok(!(packet instanceof Error));
  const ref = new WeakRef(packet);
  packet = undefined;
  for (let i = 0; i < 5 && ref.deref() !== undefined; i++) {
    await new Promise((r) => setImmediate(r));
    gc();
  }
  assert.equal(ref.deref(), undefined, 'the CONNECT packet is still reachable');
});
