import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import { test } from 'node:test';
import mqttPacket, { type IPublishPacket } from 'mqtt-packet';
import { withDeliveryProperties } from '../src/mqtt/delivery-properties.js';

// Differential: a delivery spliced into a template parses exactly as mqtt-packet's own encoding
// of the same PUBLISH.

function parse(bytes: Buffer): IPublishPacket {
  const parser = mqttPacket.parser({ protocolVersion: 5 });
  const packets: IPublishPacket[] = [];
  const errors: Error[] = [];
  parser.on('packet', (p) => packets.push(p as IPublishPacket));
  parser.on('error', (e) => errors.push(e));
  parser.parse(bytes);
  assert.deepEqual(errors, []);
  assert.equal(packets.length, 1);
  return at(packets, 0);
}

const plain = (p: IPublishPacket) => JSON.parse(JSON.stringify(p, (_k, v) => (v === undefined ? null : v)));

test('per-delivery properties spliced into a template read as a freshly encoded PUBLISH', () => {
  let cases = 0;
  for (const qos of [0, 1, 2] as const) {
    for (const userCount of [0, 3, 64]) {
      for (const payloadSize of [0, 5, 20_000]) {
        for (const ids of [undefined, [1], [7, 300, 268_435_455]]) {
          for (const alias of [undefined, 9]) {
            for (const expiry of [undefined, 0, 3600]) {
              const userProperties: Record<string, string> = {};
              for (let i = 0; i < userCount; i++) userProperties[`k${i}`] = `value ${i}`;
              const base = {
                cmd: 'publish' as const,
                topic: 'a/b/c',
                payload: Buffer.alloc(payloadSize, 0x61),
                qos,
                retain: true,
                dup: false,
              };
              const shared = userCount > 0 ? { contentType: 'text/plain', userProperties } : undefined;
              const template = mqttPacket.generate(
                { ...base, messageId: qos > 0 ? 1 : undefined, properties: shared },
                { protocolVersion: 5 },
              );
              const omitTopic = alias !== undefined && ids?.length === 1;
              const spliced = withDeliveryProperties(template, {
                qos,
                dup: qos > 0,
                packetId: 4242,
                messageExpiryInterval: expiry,
                subscriptionIds: ids,
                topicAlias: alias,
                omitTopic,
              });
              const expected = mqttPacket.generate(
                {
                  ...base,
                  topic: omitTopic ? '' : base.topic,
                  dup: qos > 0,
                  messageId: qos > 0 ? 4242 : undefined,
                  properties: {
                    ...shared,
                    ...(expiry !== undefined ? { messageExpiryInterval: expiry } : {}),
                    ...(alias !== undefined ? { topicAlias: alias } : {}),
                    ...(ids ? { subscriptionIdentifier: ids.length === 1 ? ids[0] : ids } : {}),
                  },
                },
                { protocolVersion: 5 },
              );
              assert.equal(spliced.length, expected.length);
              assert.deepEqual(plain(parse(spliced)), plain(parse(expected)));
              cases++;
            }
          }
        }
      }
    }
  }
  assert.equal(cases, 3 * 3 * 3 * 3 * 2 * 3);
});
