import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MqttDecoder, UnknownProtocolLevel } from '../src/mqtt/codec.js';

/** A CONNECT of protocol `name` and `level`, clean session, keep alive 0, client id "c". */
function connect(name: string, level: number): Buffer {
  const body = Buffer.concat([
    Buffer.from([0, name.length]),
    Buffer.from(name),
    Buffer.from([level, 0x02, 0, 0]),
    // Version 5 has a property length (none) before the payload.
    Buffer.from(level === 5 ? [0, 0, 1] : [0, 1]),
    Buffer.from('c'),
  ]);
  return Buffer.concat([Buffer.from([0x10, body.length]), body]);
}

test('a CONNECT of an unknown protocol level is reported with the level, from the fields read', () => {
  for (const level of [0, 1, 2, 6, 7, 0x86]) {
    const result = new MqttDecoder().decode(connect('MQTT', level));
    assert.ok(result instanceof UnknownProtocolLevel, `level ${level}: ${String(result)}`);
    // A bridge sets the top bit (mqtt-packet takes it off before checking the level).
    assert.equal(result.level, level >= 0x80 ? level - 0x80 : level);
  }
});

test('known levels decode, and other CONNECT faults are not taken for an unknown level', () => {
  for (const [name, level] of [
    ['MQIsdp', 3],
    ['MQTT', 4],
    ['MQTT', 5],
  ] as const) {
    const result = new MqttDecoder().decode(connect(name, level));
    assert.ok(!(result instanceof Error), `${name} ${level}: ${String(result)}`);
    assert.equal((result as { protocolVersion: number }).protocolVersion, level);
  }
  const badName = new MqttDecoder().decode(connect('MQTX', 4));
  assert.ok(badName instanceof Error);
  assert.ok(!(badName instanceof UnknownProtocolLevel));
});
