import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { IPublishPacket } from 'mqtt-packet';
import { metricValue, scrape } from './helpers.js';
import {
  RawMqtt,
  type TestClient,
  endAll,
  eventually,
  mqttClient,
  rawConnect,
  startMqtt,
  withMqtt,
} from './mqtt-helpers.js';

test('pulse_mqtt_* metrics count connections, sessions, packets, publishes, wills, retained, inflight', async () => {
  await withMqtt({ mqtt: { sys_interval_ms: 0 } }, async (h) => {
    const sub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await sub.subscribeAsync('m/#', { qos: 2 });
    const { raw } = await RawMqtt.connect(h.mqttPort, 5);
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'm/held', qos: 1 }] });
    await raw.next('suback');
    const pub = await mqttClient(h.mqttWsUrl, { protocolVersion: 4 });
    const willer = await mqttClient(h.tcpUrl, {
      protocolVersion: 4,
      will: { topic: 'm/will', payload: Buffer.from('w'), qos: 0, retain: false },
    });
    await pub.publishAsync('m/a', 'x', { qos: 0 });
    await pub.publishAsync('m/b', 'x', { qos: 1, retain: true });
    await pub.publishAsync('m/held', 'x', { qos: 2 });
    await sub.inbox.waitFor(3);
    await raw.next('publish'); // not acknowledged: stays in flight
    let text = await scrape(h);
    const v = (name: string) => metricValue(text, name);
    assert.equal(v('pulse_mqtt_connections'), 4);
    assert.equal(v('pulse_mqtt_sessions'), 4);
    assert.equal(v('pulse_mqtt_retained'), 1);
    assert.equal(v('pulse_mqtt_inflight'), 1);
    assert.equal(v('pulse_mqtt_packets_in_total{type="connect"}'), 4);
    assert.equal(v('pulse_mqtt_packets_in_total{type="subscribe"}'), 2);
    assert.equal(v('pulse_mqtt_packets_in_total{type="publish"}'), 3);
    assert.equal(v('pulse_mqtt_packets_out_total{type="connack"}'), 4);
    assert.equal(v('pulse_mqtt_packets_out_total{type="puback"}'), 1);
    assert.equal(v('pulse_mqtt_packets_out_total{type="pubrec"}'), 1);
    assert.equal(v('pulse_mqtt_packets_out_total{type="publish"}'), 4);
    assert.equal(v('pulse_mqtt_publishes_in_total{qos="0"}'), 1);
    assert.equal(v('pulse_mqtt_publishes_in_total{qos="1"}'), 1);
    assert.equal(v('pulse_mqtt_publishes_in_total{qos="2"}'), 1);
    assert.equal(v('pulse_mqtt_publishes_out_total{qos="0"}'), 1);
    assert.equal(v('pulse_mqtt_publishes_out_total{qos="1"}'), 2);
    assert.equal(v('pulse_mqtt_publishes_out_total{qos="2"}'), 1);
    assert.equal(v('pulse_connections{transport="mqtt_ws"}'), 1);
    willer.stream.destroy();
    await sub.inbox.waitFor(4);
    raw.destroy();
    await pub.endAsync();
    await eventually(
      async () => metricValue(await scrape(h), 'pulse_mqtt_connections') === 1,
      'closed links',
    );
    text = await scrape(h);
    assert.equal(v('pulse_mqtt_wills_published_total'), 1);
    assert.equal(v('pulse_mqtt_sessions'), 1, 'clean sessions end with their connections');
    assert.equal(v('pulse_mqtt_inflight'), 0);
    await endAll(sub);
  });
});

/** Latest value of each $SYS/broker/... topic seen by `c`. */
function sysValues(c: TestClient): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of c.inbox.items) out[m.topic.slice('$SYS/broker/'.length)] = m.payload.toString();
  return out;
}

test('$SYS/broker/... topics: published every mqtt.sys_interval_ms, retained, hidden from #', async () => {
  await withMqtt({ mqtt: { sys_interval_ms: 100 } }, async (h) => {
    const all = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await all.subscribeAsync('#');
    // Connections that never complete a CONNECT, or are refused, are not clients.
    const silent = await RawMqtt.open(h.mqttPort, 4);
    const garbage = await RawMqtt.open(h.mqttPort, 4);
    garbage.write(Buffer.from(`GET / HTTP/1.1\r\nHost: x\r\n${'X-Pad: x\r\n'.repeat(8)}\r\n`));
    const refused = await RawMqtt.open(h.mqttPort, 4);
    refused.write(rawConnect({ level: 4, clientId: '', flags: 0 }));
    await refused.next('connack');
    await garbage.expectClosed();
    silent.destroy();
    await refused.expectClosed();
    const sys = await mqttClient(h.tcpUrl, { protocolVersion: 4 });
    await sys.subscribeAsync('$SYS/broker/#');
    // Retained: the current values arrive at once, then again each interval.
    await sys.inbox.waitFor(10);
    assert.ok(Object.keys(sysValues(sys)).length >= 10, `topics: ${Object.keys(sysValues(sys))}`);
    assert.ok(sys.inbox.items.every((m) => m.topic.startsWith('$SYS/broker/')));
    await eventually(() => sysValues(sys)['clients/connected'] === '2', 'clients/connected = 2', 2000);
    const now = sysValues(sys);
    assert.match(now.version ?? '(none)', /^pulse /);
    assert.match(now.uptime ?? '(none)', /^\d+ seconds$/);
    assert.equal(now['subscriptions/count'], '2');
    const received = Number(now['messages/received']);
    await all.publishAsync('sys/count', 'x', { qos: 1 });
    await eventually(
      () => Number(sysValues(sys)['messages/received']) === received + 1,
      'messages/received to count the publish',
      2000,
    );
    assert.ok(
      all.inbox.items.every((m) => !m.topic.startsWith('$')),
      '# never matches $SYS',
    );
    assert.ok(all.inbox.items.some((m) => m.topic === 'sys/count'));
    await endAll(all, sys);
  });
});

test('graceful shutdown: v5 clients get DISCONNECT 0x8B, 3.1.1 clients are closed, nothing new is accepted', async () => {
  const h = await startMqtt();
  let stopped = false;
  try {
    const v5tcp = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    const v5ws = await mqttClient(h.mqttWsUrl, { protocolVersion: 5 });
    const v4 = await mqttClient(h.tcpUrl, { protocolVersion: 4 });
    const { raw } = await RawMqtt.connect(h.mqttPort, 5);
    const t0 = Date.now();
    await h.stop();
    stopped = true;
    assert.ok(Date.now() - t0 < 900, 'clients left before the drain timeout');
    const d = (await raw.next('disconnect')) as { reasonCode: number };
    assert.equal(d.reasonCode, 0x8b);
    await raw.expectClosed();
    assert.equal((await v5tcp.gone)?.reasonCode, 0x8b);
    assert.equal((await v5ws.gone)?.reasonCode, 0x8b);
    assert.equal(await v4.gone, undefined);
    const late = await RawMqtt.open(h.mqttPort).catch((err: Error) => err);
    assert.ok(late instanceof Error, 'the MQTT listener is closed');
  } finally {
    if (!stopped) await h.stop();
  }
});

test('queued and inflight gauges follow a slow v5 subscriber', async () => {
  await withMqtt({ mqtt: { sys_interval_ms: 0 } }, async (h) => {
    const { raw } = await RawMqtt.connect(h.mqttPort, 5, { properties: { receiveMaximum: 2 } });
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'slow', qos: 1 }] });
    await raw.next('suback');
    const pub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    for (let i = 0; i < 5; i++) await pub.publishAsync('slow', String(i), { qos: 1 });
    const text = await scrape(h);
    assert.equal(metricValue(text, 'pulse_mqtt_inflight'), 2);
    assert.equal(metricValue(text, 'pulse_mqtt_queued'), 3);
    for (let i = 0; i < 5; i++) {
      const p = (await raw.next('publish')) as IPublishPacket;
      raw.send({ cmd: 'puback', messageId: p.messageId });
    }
    await eventually(async () => metricValue(await scrape(h), 'pulse_mqtt_inflight') === 0, 'acks');
    assert.equal(metricValue(await scrape(h), 'pulse_mqtt_queued'), 0);
    raw.destroy();
    await endAll(pub);
  });
});
