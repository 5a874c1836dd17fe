import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import type { Packet } from 'mqtt-packet';
import { scanProperties } from '../src/mqtt/property-scan.js';
import { at } from './element.js';
import { Rng } from './prng.js';

const mqttPacket = createRequire(import.meta.url)('mqtt-packet') as typeof import('mqtt-packet');
const encode = (packet: Packet) => mqttPacket.generate(packet, { protocolVersion: 5 });

function userProperties(count: number): Record<string, string | string[]> {
  // Repeated names too: mqtt-packet writes an array value as that many properties.
  const props: Record<string, string | string[]> = { same: [] };
  for (let i = 0; i < count; i++) {
    if (i % 3 === 0) (props.same as string[]).push(`v${i}`);
    else props[`k${i}`] = `v${i}`;
  }
  if ((props.same as string[]).length === 0) delete props.same;
  return props;
}

/** One packet of every type that carries properties, with `n` user properties. */
function packetsWith(n: number): Packet[] {
  const properties = { userProperties: userProperties(n) };
  const will = { topic: 'w', payload: Buffer.from('x'), qos: 0 as const, retain: false, properties };
  return [
    { cmd: 'connect', protocolVersion: 5, clientId: 'c', clean: true, keepalive: 0, properties },
    { cmd: 'connect', protocolVersion: 5, clientId: 'c', clean: true, keepalive: 0, will },
    { cmd: 'connack', reasonCode: 0, sessionPresent: false, properties },
    { cmd: 'publish', topic: 't', payload: Buffer.from('p'), qos: 0, retain: false, dup: false, properties },
    {
      cmd: 'publish',
      topic: 't',
      payload: Buffer.from('p'),
      qos: 2,
      messageId: 7,
      retain: false,
      dup: false,
      properties: { contentType: 'text/plain', ...properties },
    },
    { cmd: 'puback', messageId: 7, reasonCode: 0x10, properties },
    { cmd: 'pubrec', messageId: 7, reasonCode: 0x10, properties },
    { cmd: 'pubrel', messageId: 7, reasonCode: 0x92, properties },
    { cmd: 'pubcomp', messageId: 7, reasonCode: 0x92, properties },
    {
      cmd: 'subscribe',
      messageId: 7,
      subscriptions: [{ topic: 'a', qos: 1 }],
      properties: { subscriptionIdentifier: 3, ...properties },
    },
    { cmd: 'suback', messageId: 7, granted: [0], properties },
    { cmd: 'unsubscribe', messageId: 7, unsubscriptions: ['a'], properties },
    { cmd: 'unsuback', messageId: 7, granted: [0], properties },
    { cmd: 'disconnect', reasonCode: 0, properties },
    { cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'm', ...properties } },
  ] as Packet[];
}

test('user properties are counted in every packet type that carries them, CONNECT and will together', () => {
  const limits = { maxCount: 4, maxBytes: 1_000_000 };
  for (const packet of packetsWith(4)) {
    assert.equal(scanProperties(encode(packet), 5, limits), undefined, `${packet.cmd} with 4`);
  }
  for (const packet of packetsWith(5)) {
    const problem = scanProperties(encode(packet), 5, limits);
    assert.equal(problem?.reasonCode, 0x97, `${packet.cmd} with 5`);
    assert.equal(problem?.cmd, packet.cmd);
  }
  const both = {
    ...packetsWith(3)[0],
    will: {
      topic: 'w',
      payload: Buffer.from('x'),
      qos: 0,
      retain: false,
      properties: { userProperties: { a: '1', b: '2' } },
    },
  } as Packet;
  assert.equal(scanProperties(encode(both), 5, limits)?.reasonCode, 0x97);
  // What a refusal needs of an unparsed PUBLISH and CONNECT.
  const publish = scanProperties(encode(at(packetsWith(5), 4)), 5, limits);
  assert.deepEqual([publish?.qos, publish?.messageId], [2, 7]);
  assert.equal(scanProperties(encode(at(packetsWith(5), 0)), 4, limits)?.protocolVersion, 5);
  // 3.1.1 packets have no properties: nothing to count.
  const v4 = mqttPacket.generate(
    { cmd: 'publish', topic: 't', payload: Buffer.from('&\u0000\u0001'), qos: 0, retain: false, dup: false },
    { protocolVersion: 4 },
  );
  assert.equal(scanProperties(v4, 4, { maxCount: 0, maxBytes: 0 }), undefined);
});

test('the byte bound counts names and values; a repeated property is a protocol error', () => {
  const packet = encode({
    cmd: 'publish',
    topic: 't',
    payload: Buffer.from('p'),
    qos: 0,
    retain: false,
    dup: false,
    properties: { userProperties: { ab: 'cd', ef: 'gh' } },
  });
  assert.equal(scanProperties(packet, 5, { maxCount: 10, maxBytes: 8 }), undefined);
  assert.equal(scanProperties(packet, 5, { maxCount: 10, maxBytes: 7 })?.reasonCode, 0x97);
  // PUBLISH, Remaining Length 13, topic "t", Property Length 8: Content Type "a" twice; payload "p".
  const twice = Buffer.from([0x30, 13, 0, 1, 0x74, 8, 0x03, 0, 1, 0x61, 0x03, 0, 1, 0x61, 0x70]);
  const problem = scanProperties(twice, 5, { maxCount: 10, maxBytes: 100 });
  assert.equal(problem?.reasonCode, 0x82);
});

test('random and cut bytes never make the scan throw', () => {
  const rng = new Rng(0x5ca1ab1e);
  const samples = [...packetsWith(6), ...packetsWith(0)].map(encode);
  const limits = { maxCount: 5, maxBytes: 100 };
  for (let i = 0; i < 20_000; i++) {
    const base = rng.pick(samples);
    const bytes = Buffer.from(base.subarray(0, rng.range(1, base.length)));
    for (let flips = rng.int(4); flips > 0; flips--) bytes[rng.int(bytes.length)] = rng.int(256);
    const problem = scanProperties(bytes, 5, limits);
    if (problem !== undefined) assert.ok(problem.reasonCode === 0x97 || problem.reasonCode === 0x82);
  }
});
