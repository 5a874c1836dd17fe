import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import { test } from 'node:test';
import type { IConnackPacket, IPublishPacket, IPubrelPacket, QoS } from 'mqtt-packet';
import { RawMqtt, endAll, metric, mqttClient, uniqueId, withMqtt } from './mqtt-helpers.js';

const QOS: QoS[] = [0, 1, 2];

async function rawSubscriber(
  port: number,
  filter: string,
  qos: QoS,
  fields: Parameters<typeof RawMqtt.connect>[2] = {},
  version: 4 | 5 = 5,
): Promise<{ raw: RawMqtt; connack: IConnackPacket }> {
  const { raw, connack } = await RawMqtt.connect(port, version, fields);
  raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos }] });
  const suback = await raw.next('suback');
  assert.deepEqual((suback as { granted: number[] }).granted, [qos]);
  return { raw, connack };
}

test('QoS 0, 1 and 2 both ways, delivered at the lower of publish and subscription QoS', async () => {
  await withMqtt({}, async (h) => {
    for (const version of [4, 5] as const) {
      for (const url of [h.tcpUrl, h.mqttWsUrl]) {
        const pub = await mqttClient(url, { protocolVersion: version });
        const subs = await Promise.all(QOS.map(() => mqttClient(url, { protocolVersion: version })));
        for (const q of QOS) await at(subs, q).subscribeAsync(`qos/${version}/s${q}`, { qos: q });
        for (const s of QOS) {
          for (const p of QOS) {
            // Resolves when the QoS 1/2 flow with the server has completed.
            await pub.publishAsync(`qos/${version}/s${s}`, `p${p}`, { qos: p });
          }
        }
        for (const s of QOS) {
          const got = await at(subs, s).inbox.waitFor(3);
          assert.deepEqual(
            got.map((m) => [m.payload.toString(), m.packet.qos]),
            QOS.map((p) => [`p${p}`, Math.min(p, s)]),
            `v${version} subscription QoS ${s}`,
          );
          for (const m of got) {
            if (m.packet.qos > 0) assert.ok((m.packet.messageId ?? 0) > 0, 'QoS 1/2 carry a packet id');
          }
        }
        await endAll(pub, ...subs);
      }
    }
  });
});

test('towards a subscriber: packet ids, QoS 1 PUBACK and the QoS 2 PUBREC/PUBREL/PUBCOMP flow', async () => {
  await withMqtt({}, async (h) => {
    const { raw } = await rawSubscriber(h.mqttPort, 'flow/#', 2);
    const pub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await pub.publishAsync('flow/a', 'one', { qos: 1 });
    await pub.publishAsync('flow/b', 'two', { qos: 2 });
    await pub.publishAsync('flow/c', 'three', { qos: 1 });
    const p1 = (await raw.next('publish')) as IPublishPacket;
    const p2 = (await raw.next('publish')) as IPublishPacket;
    const p3 = (await raw.next('publish')) as IPublishPacket;
    assert.deepEqual(
      [p1, p2, p3].map((p) => [p.topic, p.payload.toString(), p.qos, p.dup]),
      [
        ['flow/a', 'one', 1, false],
        ['flow/b', 'two', 2, false],
        ['flow/c', 'three', 1, false],
      ],
    );
    const ids = [p1, p2, p3].map((p) => p.messageId);
    assert.equal(new Set(ids).size, 3, 'unacknowledged messages have distinct packet ids');
    assert.ok(ids.every((id) => id && id > 0 && id <= 65535));
    raw.send({ cmd: 'pubrec', messageId: p2.messageId });
    const rel = (await raw.next('pubrel')) as IPubrelPacket;
    assert.equal(rel.messageId, p2.messageId);
    raw.send({ cmd: 'pubcomp', messageId: p2.messageId });
    raw.send({ cmd: 'puback', messageId: p1.messageId });
    raw.send({ cmd: 'puback', messageId: p3.messageId });
    await eventuallyZero(h, 'pulse_mqtt_inflight');
    await raw.nothingFor(150);
    raw.destroy();
    await endAll(pub);
  });
});

async function eventuallyZero(h: Parameters<typeof metric>[0], name: string): Promise<void> {
  const deadline = Date.now() + 2000;
  while ((await metric(h, name)) !== 0) {
    if (Date.now() > deadline) assert.fail(`${name} stays above 0`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('from a publisher: a duplicate QoS 2 PUBLISH is acknowledged again but delivered once', async () => {
  await withMqtt({}, async (h) => {
    const sub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await sub.subscribeAsync('once/#', { qos: 2 });
    for (const version of [4, 5] as const) {
      const topic = `once/${version}`;
      const { raw } = await RawMqtt.connect(h.mqttPort, version);
      const publish = (payload: string, dup: boolean) =>
        raw.send({
          cmd: 'publish',
          topic,
          payload: Buffer.from(payload),
          qos: 2,
          messageId: 7,
          dup,
          retain: false,
        });
      publish('first', false);
      assert.equal(((await raw.next('pubrec')) as { messageId: number }).messageId, 7);
      publish('first', true);
      assert.equal(((await raw.next('pubrec')) as { messageId: number }).messageId, 7);
      raw.send({ cmd: 'pubrel', messageId: 7 });
      const comp = (await raw.next('pubcomp')) as { messageId: number; reasonCode?: number };
      assert.equal(comp.messageId, 7);
      assert.equal(comp.reasonCode ?? 0, 0);
      // A PUBREL for an id that is not awaiting one: PUBCOMP 0x92 in v5.
      raw.send({ cmd: 'pubrel', messageId: 7 });
      const again = (await raw.next('pubcomp')) as { reasonCode?: number };
      assert.equal(again.reasonCode ?? 0, version === 5 ? 0x92 : 0);
      // The id is free again: a new message with it is a new message.
      publish('second', false);
      await raw.next('pubrec');
      raw.send({ cmd: 'pubrel', messageId: 7 });
      await raw.next('pubcomp');
      raw.destroy();
    }
    const got = await sub.inbox.waitFor(4);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(
      sub.inbox.items.map((m) => `${m.topic} ${m.payload}`),
      ['once/4 first', 'once/4 second', 'once/5 first', 'once/5 second'],
    );
    assert.equal(got.length, 4);
    await endAll(sub);
  });
});

test("the outbound inflight window honours the client's receive maximum (QoS 1 and 2)", async () => {
  await withMqtt({}, async (h) => {
    const pub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    const { raw } = await rawSubscriber(h.mqttPort, 'win/#', 2, {
      properties: { receiveMaximum: 2 },
    });
    for (let i = 0; i < 6; i++) await pub.publishAsync('win/q1', `m${i}`, { qos: 1 });
    const first = [
      (await raw.next('publish')) as IPublishPacket,
      (await raw.next('publish')) as IPublishPacket,
    ];
    await raw.nothingFor(150, 'publish');
    // QoS 0 is not counted against the window.
    await pub.publishAsync('win/q0', 'zero', { qos: 0 });
    const zero = (await raw.next('publish')) as IPublishPacket;
    assert.equal(zero.topic, 'win/q0');
    const seen = first.map((p) => p.payload.toString());
    raw.send({ cmd: 'puback', messageId: at(first, 0).messageId });
    let next = (await raw.next('publish')) as IPublishPacket;
    seen.push(next.payload.toString());
    await raw.nothingFor(100, 'publish');
    const pending = [at(first, 1), next];
    while (seen.length < 6) {
      const done = pending.shift() as IPublishPacket;
      raw.send({ cmd: 'puback', messageId: done.messageId });
      next = (await raw.next('publish')) as IPublishPacket;
      pending.push(next);
      seen.push(next.payload.toString());
      assert.equal(
        raw.unread().filter((p) => p.cmd === 'publish').length,
        0,
        'never more than 2 unacknowledged',
      );
    }
    assert.deepEqual(seen, ['m0', 'm1', 'm2', 'm3', 'm4', 'm5']);
    for (const p of pending) raw.send({ cmd: 'puback', messageId: p.messageId });
    raw.destroy();

    // QoS 2: the slot is freed by PUBCOMP, not by PUBREC.
    const { raw: one } = await rawSubscriber(h.mqttPort, 'win2', 2, { properties: { receiveMaximum: 1 } });
    await pub.publishAsync('win2', 'a', { qos: 2 });
    await pub.publishAsync('win2', 'b', { qos: 2 });
    const a = (await one.next('publish')) as IPublishPacket;
    assert.equal(a.payload.toString(), 'a');
    one.send({ cmd: 'pubrec', messageId: a.messageId });
    await one.next('pubrel');
    await one.nothingFor(150, 'publish');
    one.send({ cmd: 'pubcomp', messageId: a.messageId });
    const b = (await one.next('publish')) as IPublishPacket;
    assert.equal(b.payload.toString(), 'b');
    // A PUBREC with an error code ends the flow (no PUBREL) and frees the slot too.
    await pub.publishAsync('win2', 'c', { qos: 2 });
    one.send({ cmd: 'pubrec', messageId: b.messageId, reasonCode: 0x80 });
    const c = (await one.next('publish')) as IPublishPacket;
    assert.equal(c.payload.toString(), 'c');
    assert.deepEqual(
      one.packets.items.filter((p) => p.cmd === 'pubrel').map((p) => (p as IPubrelPacket).messageId),
      [a.messageId],
    );
    one.destroy();
    await endAll(pub);
  });
});

test('inbound receive maximum: one QoS 2 PUBLISH too many without PUBREL gets DISCONNECT 0x93', async () => {
  await withMqtt({ mqtt: { receive_maximum: 2 } }, async (h) => {
    const { raw, connack } = await RawMqtt.connect(h.mqttPort, 5);
    assert.equal(connack.properties?.receiveMaximum, 2);
    // QoS 1 is acknowledged at once, so it never fills the window.
    for (let id = 1; id <= 5; id++) {
      raw.send({
        cmd: 'publish',
        topic: 'rm/q1',
        payload: Buffer.from('x'),
        qos: 1,
        messageId: id,
        dup: false,
        retain: false,
      });
    }
    for (let i = 0; i < 5; i++) await raw.next('puback');
    for (let id = 1; id <= 2; id++) {
      raw.send({
        cmd: 'publish',
        topic: 'rm/q2',
        payload: Buffer.from('x'),
        qos: 2,
        messageId: id,
        dup: false,
        retain: false,
      });
      await raw.next('pubrec');
    }
    raw.send({
      cmd: 'publish',
      topic: 'rm/q2',
      payload: Buffer.from('x'),
      qos: 2,
      messageId: 3,
      dup: false,
      retain: false,
    });
    await raw.expectDisconnect(0x93);
  });
});

test('unacknowledged messages are sent again after a reconnect, with DUP and the same packet id', async () => {
  await withMqtt({}, async (h) => {
    const pub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    for (const version of [4, 5] as const) {
      const clientId = uniqueId('redeliver');
      const fields = {
        clientId,
        clean: false,
        properties: version === 5 ? { sessionExpiryInterval: 60 } : undefined,
      };
      const topic = `redeliver/${version}`;
      const { raw } = await rawSubscriber(h.mqttPort, topic, 2, fields, version);
      await pub.publishAsync(topic, 'a', { qos: 1 });
      await pub.publishAsync(topic, 'b', { qos: 2 });
      await pub.publishAsync(topic, 'c', { qos: 2 });
      const [a, b, c] = [
        (await raw.next('publish')) as IPublishPacket,
        (await raw.next('publish')) as IPublishPacket,
        (await raw.next('publish')) as IPublishPacket,
      ];
      raw.send({ cmd: 'pubrec', messageId: c.messageId });
      await raw.next('pubrel');
      raw.destroy();
      await raw.closed;
      await new Promise((r) => setTimeout(r, 50));
      const { raw: back, connack } = await RawMqtt.connect(h.mqttPort, version, fields);
      assert.equal(connack.sessionPresent, true);
      const again = [await back.next(), await back.next(), await back.next()] as (
        | IPublishPacket
        | IPubrelPacket
      )[];
      assert.deepEqual(
        again.map((p) => [
          p.cmd,
          p.messageId,
          p.cmd === 'publish' ? [p.payload.toString(), p.dup, p.qos] : null,
        ]),
        [
          ['publish', a.messageId, ['a', true, 1]],
          ['publish', b.messageId, ['b', true, 2]],
          ['pubrel', c.messageId, null],
        ],
        `v${version}`,
      );
      back.send({ cmd: 'puback', messageId: a.messageId });
      back.send({ cmd: 'pubrec', messageId: b.messageId });
      assert.equal(((await back.next('pubrel')) as IPubrelPacket).messageId, b.messageId);
      back.send({ cmd: 'pubcomp', messageId: b.messageId });
      back.send({ cmd: 'pubcomp', messageId: c.messageId });
      await back.nothingFor(100);
      back.destroy();
      await back.closed;
      // Everything was acknowledged: nothing comes a third time.
      const { raw: third } = await RawMqtt.connect(h.mqttPort, version, fields);
      await third.nothingFor(150);
      third.destroy();
    }
    await endAll(pub);
  });
});

test('mqtt.inflight_retransmit_interval_ms resends unacknowledged messages on the same connection', async () => {
  await withMqtt({ mqtt: { inflight_retransmit_interval_ms: 100 } }, async (h) => {
    const pub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    const { raw } = await rawSubscriber(h.mqttPort, 'rt/#', 2);
    await pub.publishAsync('rt/1', 'again', { qos: 1 });
    await pub.publishAsync('rt/2', 'twice', { qos: 2 });
    const first = (await raw.next('publish')) as IPublishPacket;
    const second = (await raw.next('publish')) as IPublishPacket;
    assert.equal(first.dup, false);
    raw.send({ cmd: 'pubrec', messageId: second.messageId });
    await raw.next('pubrel');
    const resent = (await raw.next('publish', 1000)) as IPublishPacket;
    assert.equal(resent.messageId, first.messageId);
    assert.equal(resent.dup, true);
    assert.equal(resent.payload.toString(), 'again');
    const rel = (await raw.next('pubrel', 1000)) as IPubrelPacket;
    assert.equal(rel.messageId, second.messageId, 'PUBREL is resent too');
    raw.send({ cmd: 'puback', messageId: first.messageId });
    raw.send({ cmd: 'pubcomp', messageId: second.messageId });
    await new Promise((r) => setTimeout(r, 50));
    raw.unread();
    await raw.nothingFor(300);
    raw.destroy();
    await endAll(pub);
  });
  // Off by default: nothing is resent while the connection lasts.
  await withMqtt({}, async (h) => {
    const pub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    const { raw } = await rawSubscriber(h.mqttPort, 'rt', 1);
    await pub.publishAsync('rt', 'once', { qos: 1 });
    await raw.next('publish');
    await raw.nothingFor(300);
    raw.destroy();
    await endAll(pub);
  });
});

test('ordering: messages of one topic reach each client in publish order (QoS 1 and 2, small windows)', async () => {
  await withMqtt({}, async (h) => {
    const subs = await Promise.all([
      mqttClient(h.tcpUrl, { protocolVersion: 5, properties: { receiveMaximum: 3 } }),
      mqttClient(h.mqttWsUrl, { protocolVersion: 4 }),
    ]);
    for (const s of subs) await s.subscribeAsync('order/#', { qos: 2 });
    const pubs = await Promise.all([mqttClient(h.tcpUrl), mqttClient(h.tcpUrl, { protocolVersion: 5 })]);
    const n = 150;
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < n; i++) {
      sends.push(pubs[0].publishAsync('order/q1', String(i), { qos: 1 }));
      sends.push(pubs[1].publishAsync('order/q2', String(i), { qos: 2 }));
    }
    await Promise.all(sends);
    for (const s of subs) {
      await s.inbox.waitFor(2 * n);
      for (const topic of ['order/q1', 'order/q2']) {
        const seq = s.inbox.items.filter((m) => m.topic === topic).map((m) => Number(m.payload.toString()));
        assert.deepEqual(
          seq,
          Array.from({ length: n }, (_, i) => i),
          topic,
        );
      }
    }
    await endAll(...subs, ...pubs);
  });
});

test('3.1.1 cannot refuse a QoS 1/2 PUBLISH: it is closed; QoS 0 to a forbidden topic is dropped', async () => {
  await withMqtt({}, async (h) => {
    const refusedBefore = await metric(h, 'pulse_mqtt_publish_refused_total{reason="0x87"}');
    const { raw } = await RawMqtt.connect(h.mqttPort, 4);
    raw.send({
      cmd: 'publish',
      topic: '$SYS/fake',
      payload: Buffer.from('x'),
      qos: 0,
      dup: false,
      retain: false,
    });
    raw.send({ cmd: 'pingreq' });
    await raw.next('pingresp');
    raw.send({
      cmd: 'publish',
      topic: '$SYS/fake',
      payload: Buffer.from('x'),
      qos: 1,
      messageId: 1,
      dup: false,
      retain: false,
    });
    await raw.expectClosed();
    assert.deepEqual(
      raw.unread().map((p) => p.cmd),
      [],
    );
    assert.equal(await metric(h, 'pulse_mqtt_publish_refused_total{reason="0x87"}'), refusedBefore + 2);
  });
});
