import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { IClientOptions } from 'mqtt';
import type { PulseConfig } from '../src/config/index.js';
import { type DeepPartial, sleep } from './helpers.js';
import { type TestClient, endAll, eventually, mqttClient, withMqtt } from './mqtt-helpers.js';
import { startMosquitto } from './mosquitto-broker.js';

const STATE = /^\$SYS\/broker\/connection\/[^/]+\/state$/;

/** Publishes probes from `from` until `to` receives one: the bridge's subscriptions are in place. */
async function bridged(from: TestClient, to: TestClient, topic: string): Promise<void> {
  await eventually(
    async () => {
      await from.publishAsync(topic, 'probe', { qos: 1 });
      await sleep(100);
      return to.inbox.items.some((m) => m.topic === topic);
    },
    `${topic} crosses the bridge`,
    10_000,
  );
}

for (const protocol of ['default', 'mqttv50']) {
  test(`a Mosquitto bridge (${protocol} protocol, default settings otherwise) connects to Pulse and carries messages both ways, once each`, async () => {
    await bridgeBothWays({}, protocol === 'default' ? '' : `bridge_protocol_version ${protocol}\n`, {});
  });
}

test('a Mosquitto bridge logs in with a user whose ACL grants its state topic and what it bridges', async () => {
  const app = { username: 'app', password: 'app-pass' };
  await bridgeBothWays(
    {
      auth: {
        enabled: true,
        users: [
          { username: 'bridge', password_hash: '', password: 'bridge-pass' },
          { ...app, password_hash: '' },
        ],
        acl: [
          { username: 'bridge', action: 'publish', topic_filter: '$SYS/broker/connection/+/state' },
          { username: 'bridge', action: 'all', topic_filter: '#' },
          { username: 'app', action: 'all', topic_filter: 'bridge/#' },
          { username: 'app', action: 'subscribe', topic_filter: '$SYS/broker/connection/+/state' },
        ],
      },
    },
    'remote_username bridge\nremote_password bridge-pass\n',
    app,
  );
});

async function bridgeBothWays(
  config: DeepPartial<PulseConfig>,
  extraSettings: string,
  login: IClientOptions,
): Promise<void> {
  await withMqtt(config, async (h) => {
    const pulseClient = () => mqttClient(h.tcpUrl, { protocolVersion: 5, ...login });
    const watcher = await pulseClient();
    await watcher.subscribeAsync('$SYS/broker/connection/+/state', { qos: 1 });
    const mosquitto = await startMosquitto(
      `connection pulse\naddress 127.0.0.1:${h.mqttPort}\ntopic # both 0\n${extraSettings}`,
    );
    try {
      // Mosquitto's bridge notification (retained "1"), with its will ("0") set on CONNECT.
      const [up] = await watcher.inbox.waitFor(1, 10_000).catch((err) => {
        throw new Error(`${err.message}; mosquitto log:\n${mosquitto.log()}`);
      });
      assert.ok(up !== undefined);
      assert.match(up.topic, STATE);
      assert.equal(up.payload.toString(), '1');
      watcher.inbox.items.length = 0;

      const pulseSide = await pulseClient();
      await pulseSide.subscribeAsync('bridge/#', { qos: 1 });
      const mosquittoSide = await mqttClient(mosquitto.url, { protocolVersion: 5 });
      await mosquittoSide.subscribeAsync('bridge/#', { qos: 1 });
      await bridged(pulseSide, mosquittoSide, 'bridge/probe/out');
      await bridged(mosquittoSide, pulseSide, 'bridge/probe/in');
      await sleep(300);
      pulseSide.inbox.items.length = 0;
      mosquittoSide.inbox.items.length = 0;

      for (let i = 0; i < 5; i++) {
        await pulseSide.publishAsync('bridge/out', `p${i}`, { qos: 1 });
        await mosquittoSide.publishAsync('bridge/in', `m${i}`, { qos: 1 });
      }
      await mosquittoSide.inbox.waitFor(10);
      await pulseSide.inbox.waitFor(10);
      await sleep(300);
      const seen = (c: TestClient, topic: string) =>
        c.inbox.items.filter((m) => m.topic === topic).map((m) => m.payload.toString());
      const five = (prefix: string) => [0, 1, 2, 3, 4].map((i) => `${prefix}${i}`);
      assert.deepEqual(seen(mosquittoSide, 'bridge/out'), five('p'), 'Pulse to Mosquitto, in order');
      assert.deepEqual(seen(pulseSide, 'bridge/in'), five('m'), 'Mosquitto to Pulse, in order');
      // Pulse does not send the bridge its own publications back (bridge mode: no local).
      assert.deepEqual(seen(mosquittoSide, 'bridge/in'), five('m'), 'no echo through the bridge');
      assert.deepEqual(seen(pulseSide, 'bridge/out'), five('p'), 'no echo through the bridge');

      // A retained message crosses with its RETAIN flag (the bridge's subscription keeps it).
      await pulseSide.publishAsync('bridge/retained', 'kept', { qos: 1, retain: true });
      await eventually(async () => {
        const late = await mqttClient(mosquitto.url, { protocolVersion: 5 });
        await late.subscribeAsync('bridge/retained');
        await sleep(100);
        const got = late.inbox.items.map((m) => `${m.payload}:${m.packet.retain}`);
        await endAll(late);
        return got.includes('kept:true');
      }, 'the retained message stored by Mosquitto');

      // The bridge goes away without DISCONNECT: its will marks it down, retained.
      await mosquitto.kill();
      const [down] = await watcher.inbox.waitFor(1, 10_000);
      assert.ok(down !== undefined);
      assert.equal(down.topic, up.topic);
      assert.equal(down.payload.toString(), '0');
      const late = await pulseClient();
      await late.subscribeAsync('$SYS/broker/connection/+/state');
      const [retained] = await late.inbox.waitFor(1);
      assert.ok(retained !== undefined);
      assert.equal(retained.payload.toString(), '0');
      assert.equal(retained.packet.retain, true);
      await endAll(pulseSide, mosquittoSide, late);
    } finally {
      await mosquitto.stop();
      await endAll(watcher);
    }
  });
}
