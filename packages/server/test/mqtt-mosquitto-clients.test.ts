import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import type { Publication } from '@pulse/client';
import { Inbox, wsClient } from './helpers.js';
import {
  type MqttHarness,
  type RunResult,
  endAll,
  eventually,
  mqttClient,
  run,
  uniqueId,
  withMqtt,
} from './mqtt-helpers.js';

const PUB = '/usr/bin/mosquitto_pub';
const SUB = '/usr/bin/mosquitto_sub';

const base = (h: MqttHarness, version: string) => [
  '-h',
  '127.0.0.1',
  '-p',
  String(h.mqttPort),
  '-V',
  version,
];

/** Starts mosquitto_sub; resolves once the server holds its subscriptions, with its completion. */
async function subscriber(
  h: MqttHarness,
  version: string,
  args: string[],
  subscriptions = 1,
): Promise<{ done: Promise<RunResult> }> {
  const id = uniqueId('mosq-sub');
  const proc = run(SUB, [...base(h, version), '-i', id, '-W', '8', ...args]);
  await eventually(
    () => (h.server.mqtt?.sessions.get(id)?.subscriptions.size ?? 0) >= subscriptions,
    `mosquitto_sub ${id} to subscribe`,
    5000,
  );
  return { done: proc.done };
}

async function publish(h: MqttHarness, version: string, args: string[], input?: Buffer) {
  const result = await run(PUB, [...base(h, version), ...args], input).done;
  assert.equal(result.code, 0, `mosquitto_pub ${args.join(' ')}: ${result.stderr}`);
}

test('mosquitto_pub to mosquitto_sub, MQTT 3.1, 3.1.1 and 5.0, QoS 0, 1 and 2', async () => {
  await withMqtt({}, async (h) => {
    for (const version of ['mqttv311', 'mqttv5', 'mqttv31']) {
      const topic = `mosq/${version}`;
      const { done } = await subscriber(h, version, [
        '-t',
        `${topic}/#`,
        '-q',
        '2',
        '-C',
        '3',
        '-F',
        '%t|%q|%p',
      ]);
      for (const qos of ['0', '1', '2']) {
        await publish(h, version, ['-t', `${topic}/q${qos}`, '-q', qos, '-m', `hello ${qos}`]);
      }
      const result = await done;
      assert.equal(result.code, 0, `${version}: ${result.stderr} ${result.stdout}`);
      assert.deepEqual(result.stdout.trim().split('\n'), [
        `${topic}/q0|0|hello 0`,
        `${topic}/q1|1|hello 1`,
        `${topic}/q2|2|hello 2`,
      ]);
    }
  });
});

test('mosquitto and MQTT.js interoperate: binary payloads, v5 properties, native subscribers', async () => {
  await withMqtt({}, async (h) => {
    const js = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await js.subscribeAsync('interop/#', { qos: 2 });
    const native = await wsClient(h);
    const nativeInbox = new Inbox<Publication>();
    await native.subscribe('interop/bin', nativeInbox.push);
    // 100 KiB of random bytes through stdin, NULs included.
    const payload = randomBytes(100 * 1024);
    await publish(h, 'mqttv311', ['-t', 'interop/bin', '-q', '1', '-s'], payload);
    await publish(h, 'mqttv5', [
      '-t',
      'interop/props',
      '-q',
      '2',
      '-m',
      '{"a":1}',
      '-D',
      'publish',
      'user-property',
      'origin',
      'mosquitto',
      '-D',
      'publish',
      'content-type',
      'application/json',
      '-D',
      'publish',
      'response-topic',
      'interop/reply',
      '-D',
      'publish',
      'correlation-data',
      'c0ffee',
      '-D',
      'publish',
      'message-expiry-interval',
      '60',
    ]);
    const [bin, props] = await js.inbox.waitFor(2);
    assert.ok(bin !== undefined && props !== undefined);
    assert.deepEqual(bin.payload, payload);
    assert.deepEqual(Buffer.from(at(await nativeInbox.waitFor(1), 0).payload), payload);
    const p = props.packet.properties ?? {};
    assert.equal(props.payload.toString(), '{"a":1}');
    assert.deepEqual({ ...p.userProperties }, { origin: 'mosquitto' });
    assert.equal(p.contentType, 'application/json');
    assert.equal(p.responseTopic, 'interop/reply');
    assert.deepEqual(p.correlationData, Buffer.from('c0ffee'));
    assert.ok(p.messageExpiryInterval === 60 || p.messageExpiryInterval === 59);

    // MQTT.js to mosquitto_sub, properties shown by its format string.
    const { done } = await subscriber(h, 'mqttv5', [
      '-t',
      'interop/to-mosq',
      '-q',
      '1',
      '-C',
      '1',
      '-F',
      '%q|%C|%P|%R|%x',
    ]);
    await js.publishAsync('interop/to-mosq', Buffer.from([0, 1, 0xff]), {
      qos: 1,
      properties: { contentType: 'bin', userProperties: { k: 'v' }, responseTopic: 'r/t' },
    });
    const result = await done;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), '1|bin|k:v|r/t|0001ff');
    await native.close();
    await endAll(js);
  });
});

test('mosquitto clients: retained messages, persistent sessions (-c) and wills', async () => {
  await withMqtt({}, async (h) => {
    // Retained, then cleared with a null message.
    await publish(h, 'mqttv311', ['-t', 'mosq/ret', '-r', '-q', '1', '-m', 'kept']);
    const got = await run(SUB, [...base(h, 'mqttv5'), '-t', 'mosq/ret', '-C', '1', '-W', '5', '-F', '%r|%p'])
      .done;
    assert.equal(got.stdout.trim(), '1|kept');
    await publish(h, 'mqttv311', ['-t', 'mosq/ret', '-r', '-n']);
    assert.equal(h.server.mqtt?.retained.get('mosq/ret'), undefined);

    // Persistent session: subscribe and exit (-E), messages wait, collected on return.
    for (const version of ['mqttv311', 'mqttv5']) {
      const id = uniqueId('mosq-persist');
      const session = version === 'mqttv5' ? ['-x', '60'] : [];
      const first = await run(SUB, [
        ...base(h, version),
        '-i',
        id,
        '-c',
        ...session,
        '-q',
        '1',
        '-t',
        'mosq/persist',
        '-E',
      ]).done;
      assert.equal(first.code, 0, first.stderr);
      await publish(h, version, ['-t', 'mosq/persist', '-q', '1', '-m', `while away ${version}`]);
      const back = await run(SUB, [
        ...base(h, version),
        '-i',
        id,
        '-c',
        ...session,
        '-q',
        '1',
        '-t',
        'mosq/persist',
        '-C',
        '1',
        '-W',
        '5',
      ]).done;
      assert.equal(back.code, 0, back.stderr);
      assert.equal(back.stdout.trim(), `while away ${version}`);
    }

    // A will: mosquitto_sub killed without DISCONNECT.
    const watcher = await mqttClient(h.tcpUrl, { protocolVersion: 4 });
    await watcher.subscribeAsync('mosq/will', { qos: 1 });
    const id = uniqueId('mosq-will');
    const { done, child } = run(SUB, [
      ...base(h, 'mqttv5'),
      '-i',
      id,
      '-t',
      'mosq/none',
      '-W',
      '8',
      '--will-topic',
      'mosq/will',
      '--will-payload',
      'mosquitto gone',
      '--will-qos',
      '1',
    ]);
    await eventually(() => h.server.mqtt?.sessions.get(id)?.subscriptions.size === 1, 'subscribed', 5000);
    const session = h.server.mqtt?.sessions.get(id);
    assert.ok(session?.connected);
    child.kill('SIGKILL'); // no DISCONNECT
    await done;
    const [will] = await watcher.inbox.waitFor(1);
    assert.ok(will !== undefined);
    assert.equal(will.payload.toString(), 'mosquitto gone');
    await endAll(watcher);
  });
});
