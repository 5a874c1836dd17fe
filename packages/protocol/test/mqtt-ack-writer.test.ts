import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import type { Packet } from 'mqtt-packet';
import { encodeBareAck } from '../src/mqtt/ack-writer.js';

const mqttPacket = createRequire(import.meta.url)('mqtt-packet') as typeof import('mqtt-packet');

const ACKS = ['puback', 'pubrec', 'pubrel', 'pubcomp'] as const;

/** Parses one packet as a server reading version `protocolVersion` would. */
function parse(bytes: Buffer, protocolVersion: number): Packet {
  const parser = mqttPacket.parser({ protocolVersion });
  let parsed: Packet | undefined;
  parser.on('packet', (p) => {
    parsed = p;
  });
  parser.on('error', (err) => assert.fail(err));
  parser.parse(bytes);
  assert.ok(parsed, 'one whole packet');
  return parsed;
}

const fields = (p: Packet) => {
  const ack = p as { cmd: string; messageId?: number; reasonCode?: number };
  return { cmd: ack.cmd, messageId: ack.messageId, reasonCode: ack.reasonCode ?? 0 };
};

test('bare acknowledgements are the bytes mqtt-packet writes in 3.1.1, and read as its encoding in 5', () => {
  for (const cmd of ACKS) {
    for (const messageId of [1, 2, 255, 256, 0x1234, 65_535]) {
      const packet = { cmd, messageId } as Packet;
      const ours = encodeBareAck(packet);
      assert.ok(ours, `${cmd} ${messageId} takes the short path`);
      assert.deepEqual(ours, mqttPacket.generate(packet, { protocolVersion: 4 }), `${cmd} ${messageId} v4`);
      // mqtt-packet writes reason 0 and an empty property length in 5; leaving both out means
      // the same (MQTT 5 §3.4.2.1): a version 5 reader sees the same acknowledgement.
      const theirs = mqttPacket.generate(packet, { protocolVersion: 5 });
      assert.deepEqual(fields(parse(ours, 5)), fields(parse(theirs, 5)), `${cmd} ${messageId} v5`);
      assert.deepEqual(fields(parse(ours, 5)), { cmd, messageId, reasonCode: 0 });
      assert.deepEqual(encodeBareAck({ cmd, messageId, reasonCode: 0 } as Packet), ours, 'reason 0');
    }
  }
});

test('acknowledgements with a reason code or properties, and other packets, are left to the encoder', () => {
  for (const cmd of ACKS) {
    assert.equal(encodeBareAck({ cmd, messageId: 7, reasonCode: 0x97 } as Packet), undefined);
    assert.equal(
      encodeBareAck({ cmd, messageId: 7, properties: { reasonString: 'no' } } as Packet),
      undefined,
    );
  }
  assert.equal(encodeBareAck({ cmd: 'pingresp' }), undefined);
  assert.equal(encodeBareAck({ cmd: 'suback', messageId: 1, granted: [0] }), undefined);
});
