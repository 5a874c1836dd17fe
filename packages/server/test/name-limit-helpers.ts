import assert from 'node:assert/strict';
import type { ISubackPacket } from 'mqtt-packet';
import { Inbox, wsClient } from './helpers.js';
import { type MqttHarness, type RawMqtt, endAll, mqttClient } from './mqtt-helpers.js';

// For the tests of limits on names (limits.max_topic_levels, limits.max_channel_length).

/** Sends one SUBSCRIBE of `topics` and returns the SUBACK's codes. */
export async function subscribe(raw: RawMqtt, topics: string[], qos: 0 | 1 = 0): Promise<number[]> {
  raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: topics.map((topic) => ({ topic, qos })) });
  return ((await raw.next('suback')) as ISubackPacket).granted as number[];
}

/**
 * Two pairs that must keep working whatever an attacker sends: a native subscriber and
 * publisher, and an MQTT subscriber and publisher.
 */
export async function bystanders(h: MqttHarness) {
  const nativeSub = await wsClient(h);
  const nativePub = await wsClient(h);
  const nativeInbox = new Inbox<unknown>();
  await nativeSub.subscribe('bystander/native', nativeInbox.push);
  const mqttSub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
  const mqttPub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
  await mqttSub.subscribeAsync('bystander/mqtt', { qos: 1 });
  let sent = 0;
  return {
    /** Both pairs deliver one more message each, in order. */
    async stillDeliver(): Promise<void> {
      sent++;
      await nativePub.publish('bystander/native', `n${sent}`);
      await mqttPub.publishAsync('bystander/mqtt', `m${sent}`, { qos: 1 });
      const native = await nativeInbox.waitFor(sent);
      const mqtt = await mqttSub.inbox.waitFor(sent);
      assert.equal(native.length, sent);
      assert.deepEqual(
        mqtt.map((m) => m.payload.toString()),
        Array.from({ length: sent }, (_, i) => `m${i + 1}`),
      );
    },
    async close(): Promise<void> {
      nativeSub.close();
      nativePub.close();
      await endAll(mqttSub, mqttPub);
    },
  };
}
