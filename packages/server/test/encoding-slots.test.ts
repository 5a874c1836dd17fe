import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ENCODING_SLOT_COUNT,
  JSON_WIRE_SLOT,
  MQTT_PUBLISH_SLOT_COUNT,
  NATIVE_RAW_SLOT,
  SSE_WIRE_SLOT,
  TCP_WIRE_SLOT,
  WS_WIRE_SLOT,
  mqttPublishSlot,
} from '../src/encoding-slots.js';

test('encoding slots: every wire format has its own slot, all below ENCODING_SLOT_COUNT', () => {
  const mqtt: number[] = [];
  for (const v5 of [false, true]) {
    for (const qos of [0, 1, 2] as const) {
      for (const retain of [false, true]) mqtt.push(mqttPublishSlot(v5, qos, retain));
    }
  }
  assert.equal(mqtt.length, MQTT_PUBLISH_SLOT_COUNT);
  const all = [TCP_WIRE_SLOT, WS_WIRE_SLOT, NATIVE_RAW_SLOT, JSON_WIRE_SLOT, SSE_WIRE_SLOT, ...mqtt];
  assert.equal(new Set(all).size, all.length, `slots collide: ${all.join(', ')}`);
  for (const slot of all) {
    assert.ok(Number.isInteger(slot) && slot >= 0 && slot < ENCODING_SLOT_COUNT, `slot ${slot} out of range`);
  }
  // Dense: no slot left unused, so the cache array has no holes to skip.
  assert.equal(ENCODING_SLOT_COUNT, all.length);
});
