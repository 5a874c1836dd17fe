import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import type { IPublishPacket } from 'mqtt-packet';
import { type BarePublish, encodeBarePublish } from '../src/mqtt/publish-writer.js';
import { Rng } from './prng.js';

const mqttPacket = createRequire(import.meta.url)('mqtt-packet') as typeof import('mqtt-packet');

function byLibrary(p: BarePublish): Buffer {
  const packet: IPublishPacket = {
    cmd: 'publish',
    topic: p.topic,
    payload: Buffer.from(p.payload),
    qos: p.qos,
    retain: p.retain,
    dup: p.dup,
    messageId: p.qos > 0 ? p.packetId : undefined,
  };
  return mqttPacket.generate(packet, { protocolVersion: p.version });
}

const TOPIC_CHARS = ['a', 'Z', '/', '+', 'é', '€', '𝄞', '中', ' ', '0'];

test('a PUBLISH without properties is the bytes mqtt-packet generates, for every version, QoS and flag', () => {
  const rng = new Rng(20261203);
  // Remaining lengths around each varint boundary, and random ones.
  const sizes = [0, 1, 120, 127, 128, 200, 16_370, 16_383, 16_384, 100_000, 2_097_140, 2_097_152];
  for (let round = 0; round < 600; round++) {
    const topicLength = rng.range(1, 40);
    let topic = '';
    for (let i = 0; i < topicLength; i++) topic += TOPIC_CHARS[rng.int(TOPIC_CHARS.length)];
    const size = round < sizes.length * 4 ? (sizes[round % sizes.length] ?? 0) : rng.range(0, 3000);
    const payload = Buffer.alloc(size, rng.int(256));
    const p: BarePublish = {
      topic,
      payload,
      qos: rng.int(3) as 0 | 1 | 2,
      retain: rng.bool(),
      dup: rng.bool(),
      packetId: rng.range(1, 65_535),
      version: ([3, 4, 5] as const)[rng.int(3)] ?? 4,
    };
    if (p.qos === 0) p.dup = false;
    assert.deepEqual(encodeBarePublish(p), byLibrary(p), JSON.stringify({ ...p, payload: size }));
  }
});

test('a PUBLISH past the largest remaining length is refused, not written', () => {
  const payload = { length: 268_435_456 } as unknown as Uint8Array;
  assert.throws(
    () =>
      encodeBarePublish({ topic: 't', payload, qos: 0, retain: false, dup: false, packetId: 0, version: 4 }),
    RangeError,
  );
});
