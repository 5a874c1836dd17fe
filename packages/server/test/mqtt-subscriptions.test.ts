import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import { test } from 'node:test';
import type { ISubackPacket, IUnsubackPacket } from 'mqtt-packet';
import { sleep } from './helpers.js';
import {
  RawMqtt,
  type TestClient,
  endAll,
  mqttClient,
  mqttClientWithConnack,
  uniqueId,
  withMqtt,
} from './mqtt-helpers.js';

/** Publishes every topic once (QoS 1, so each is routed before the next) and a final marker. */
async function publishAll(pub: TestClient, topics: string[]): Promise<void> {
  for (const t of topics) await pub.publishAsync(t, t, { qos: 1 });
}

test('wildcards: + and # match by level; # includes the parent; first-level wildcards skip $ topics', async () => {
  await withMqtt({ mqtt: { sys_interval_ms: 50 } }, async (h) => {
    const cases: [string, string[]][] = [
      ['sport/tennis/+', ['sport/tennis/player1', 'sport/tennis/player2']],
      [
        'sport/#',
        [
          'sport',
          'sport/',
          'sport/tennis',
          'sport/tennis/player1',
          'sport/tennis/player2',
          'sport/tennis/player1/ranking',
        ],
      ],
      ['sport/+', ['sport/', 'sport/tennis']],
      ['+/+', ['sport/', 'sport/tennis', '/finance']],
      ['/+', ['/finance']],
      ['+', ['sport']],
      ['#', []], // filled below: everything but $SYS
      [
        '+/tennis/#',
        ['sport/tennis', 'sport/tennis/player1', 'sport/tennis/player2', 'sport/tennis/player1/ranking'],
      ],
    ];
    const topics = [
      'sport',
      'sport/',
      'sport/tennis',
      'sport/tennis/player1',
      'sport/tennis/player2',
      'sport/tennis/player1/ranking',
      '/finance',
    ];
    at(cases, 6)[1] = [...topics];
    const subs: TestClient[] = [];
    for (const [filter] of cases) {
      const c = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
      await c.subscribeAsync(filter, { qos: 1 });
      subs.push(c);
    }
    const sys = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await sys.subscribeAsync('$SYS/#');
    const sysPlus = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await sysPlus.subscribeAsync('$SYS/broker/+');
    const pub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await publishAll(pub, topics);
    await pub.publishAsync('done', 'done', { qos: 1 });
    // `#` and `+` received the marker last; everyone else saw all they will see.
    await at(subs, 5).inbox.waitFor(at(cases, 5)[1].length + 1);
    await at(subs, 6).inbox.waitFor(topics.length + 1);
    await sys.inbox.waitFor(1);
    await sleep(120); // $SYS is published every 50 ms: '#' must still not have seen any
    for (let i = 0; i < cases.length; i++) {
      const [filter, expected] = at(cases, i);
      const got = at(subs, i)
        .inbox.items.map((m) => m.topic)
        .filter((t) => t !== 'done');
      assert.deepEqual(got.sort(), [...expected].sort(), `filter ${filter}`);
      assert.ok(
        at(subs, i).inbox.items.every((m) => !m.topic.startsWith('$')),
        `${filter} never matches a $ topic`,
      );
    }
    assert.ok(sys.inbox.items.every((m) => m.topic.startsWith('$SYS/broker/')));
    assert.ok(sysPlus.inbox.items.some((m) => m.topic === '$SYS/broker/version'));
    assert.ok(sysPlus.inbox.items.every((m) => m.topic.split('/').length === 3));
    await endAll(...subs, sys, sysPlus, pub);
  });
});

test('invalid topic filters are refused per filter: 0x8F in v5, 0x80 in 3.1.1', async () => {
  await withMqtt({}, async (h) => {
    const bad = ['a/#/b', 'a+', '#a', 'a/b#', '', '$share/g', '$share//a', '$share/g+/a', '$share/g/a/#/b'];
    for (const version of [4, 5] as const) {
      const { raw } = await RawMqtt.connect(h.mqttPort, version);
      raw.send({
        cmd: 'subscribe',
        messageId: 5,
        subscriptions: [
          { topic: 'ok/+', qos: 1 },
          ...bad.map((topic) => ({ topic, qos: 0 as const })),
          { topic: 'ok/#', qos: 2 },
        ],
      });
      const suback = (await raw.next('suback')) as ISubackPacket;
      assert.equal(suback.messageId, 5);
      const fail = version === 5 ? 0x8f : 0x80;
      assert.deepEqual(suback.granted, [1, ...bad.map(() => fail), 2], `v${version}`);
      assert.equal(raw.isClosed, false);
      raw.destroy();
    }
  });
});

test('overlapping subscriptions: one delivery at the highest QoS with every matching subscription id', async () => {
  await withMqtt({}, async (h) => {
    const sub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await sub.subscribeAsync('ov/+', { qos: 0, properties: { subscriptionIdentifier: 1 } });
    await sub.subscribeAsync('ov/#', { qos: 2, properties: { subscriptionIdentifier: 2 } });
    await sub.subscribeAsync('ov/x', { qos: 1 });
    await sub.subscribeAsync('other/#', { qos: 1, properties: { subscriptionIdentifier: 3 } });
    const v4 = await mqttClient(h.tcpUrl, { protocolVersion: 4 });
    await v4.subscribeAsync('ov/+', { qos: 1 });
    await v4.subscribeAsync('ov/#', { qos: 0 });
    const pub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await pub.publishAsync('ov/x', 'both', { qos: 2 });
    await pub.publishAsync('ov/x/y', 'hash only', { qos: 2 });
    await pub.publishAsync('done', '', { qos: 1 });
    await sub.inbox.waitFor(2);
    await v4.inbox.waitFor(2);
    await sleep(100);
    const got = sub.inbox.items;
    assert.equal(got.length, 2, 'one delivery per message');
    assert.equal(at(got, 0).payload.toString(), 'both');
    assert.equal(at(got, 0).packet.qos, 2);
    const ids = at(got, 0).packet.properties?.subscriptionIdentifier;
    assert.deepEqual([ids].flat().sort(), [1, 2]);
    assert.equal(at(got, 1).payload.toString(), 'hash only');
    assert.deepEqual(at(got, 1).packet.properties?.subscriptionIdentifier, 2);
    assert.deepEqual(
      v4.inbox.items.map((m) => [m.payload.toString(), m.packet.qos]),
      [
        ['both', 1],
        ['hash only', 0],
      ],
    );
    await endAll(sub, v4, pub);
  });
});

test('shared subscriptions: round-robin within a group, every group and plain subscriber gets all', async () => {
  await withMqtt({}, async (h) => {
    const members = await Promise.all([
      mqttClient(h.tcpUrl, { protocolVersion: 5 }),
      mqttClient(h.tcpUrl, { protocolVersion: 5 }),
      mqttClient(h.mqttWsUrl, { protocolVersion: 4 }),
    ]);
    for (const m of members) await m.subscribeAsync('$share/workers/jobs/+', { qos: 1 });
    const otherGroup = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await otherGroup.subscribeAsync('$share/audit/jobs/#', { qos: 1 });
    const plain = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await plain.subscribeAsync('jobs/+', { qos: 1 });
    const pub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    for (let i = 0; i < 9; i++) await pub.publishAsync(`jobs/${i}`, String(i), { qos: 1 });
    await plain.inbox.waitFor(9);
    await otherGroup.inbox.waitFor(9);
    await Promise.all(members.map((m) => m.inbox.waitFor(3)));
    await sleep(50);
    assert.deepEqual(
      members.map((m) => m.inbox.items.length),
      [3, 3, 3],
      'round-robin',
    );
    const all = members.flatMap((m) => m.inbox.items.map((x) => Number(x.payload.toString())));
    assert.deepEqual(
      all.sort((a, b) => a - b),
      [0, 1, 2, 3, 4, 5, 6, 7, 8],
      'each message to exactly one member',
    );
    assert.equal(
      at(at(members, 0).inbox.items, 0).topic.startsWith('jobs/'),
      true,
      'delivered with the real topic',
    );
    // A member leaves: the others share everything.
    await members[2].unsubscribeAsync('$share/workers/jobs/+');
    for (let i = 0; i < 4; i++) await pub.publishAsync(`jobs/x${i}`, 'later', { qos: 1 });
    await members[0].inbox.waitFor(5);
    await members[1].inbox.waitFor(5);
    await sleep(50);
    assert.equal(members[2].inbox.items.length, 3);
    // Retained messages are not sent on a shared subscription.
    await pub.publishAsync('jobs/retained', 'kept', { qos: 1, retain: true });
    const late = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await late.subscribeAsync('$share/late/jobs/+', { qos: 1 });
    await late.subscribeAsync('jobs/retained', { qos: 1 });
    const [r] = await late.inbox.waitFor(1);
    assert.ok(r !== undefined);
    assert.equal(r.packet.retain, true);
    await sleep(100);
    assert.equal(late.inbox.items.length, 1, 'retained once, through the plain subscription only');
    await endAll(...members, otherGroup, plain, pub, late);
  });
});

test('shared subscriptions prefer connected members; an offline member gets nothing queued meanwhile', async () => {
  await withMqtt({}, async (h) => {
    const clientId = uniqueId('offline-member');
    const opts = {
      protocolVersion: 5 as const,
      clientId,
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    };
    const away = await mqttClient(h.tcpUrl, opts);
    await away.subscribeAsync('$share/g/work', { qos: 1 });
    await away.endAsync();
    const here = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await here.subscribeAsync('$share/g/work', { qos: 1 });
    const pub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    for (let i = 0; i < 4; i++) await pub.publishAsync('work', String(i), { qos: 1 });
    assert.equal((await here.inbox.waitFor(4)).length, 4);
    const back = await mqttClientWithConnack(h.tcpUrl, opts);
    assert.equal(back.connack.sessionPresent, true);
    await sleep(100);
    assert.equal(back.client.inbox.items.length, 0);
    // With nobody connected, the group's messages wait in a member's session.
    await endAll(here);
    await back.client.endAsync();
    await pub.publishAsync('work', 'queued', { qos: 1 });
    const again = await mqttClient(h.tcpUrl, opts);
    assert.equal(at(await again.inbox.waitFor(1), 0).payload.toString(), 'queued');
    await endAll(pub, again);
  });
});

test('no local: own publications are not received; not allowed on shared subscriptions', async () => {
  await withMqtt({}, async (h) => {
    const me = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    const other = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await me.subscribeAsync('chat/room', { qos: 1, nl: true });
    await other.subscribeAsync('chat/room', { qos: 1, nl: true });
    await me.publishAsync('chat/room', 'from me', { qos: 1 });
    await other.publishAsync('chat/room', 'from other', { qos: 1 });
    const [mine] = await me.inbox.waitFor(1);
    const [theirs] = await other.inbox.waitFor(1);
    await sleep(100);
    assert.deepEqual(
      me.inbox.items.map((m) => m.payload.toString()),
      ['from other'],
    );
    assert.deepEqual(
      other.inbox.items.map((m) => m.payload.toString()),
      ['from me'],
    );
    assert.ok(mine && theirs);
    const { raw } = await RawMqtt.connect(h.mqttPort, 5);
    raw.send({
      cmd: 'subscribe',
      messageId: 1,
      subscriptions: [{ topic: '$share/g/chat/room', qos: 1, nl: true }],
    });
    await raw.expectDisconnect(0x82);
    await endAll(me, other);
  });
});

test('retain as published, and retain handling 0, 1 and 2', async () => {
  await withMqtt({}, async (h) => {
    const pub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    const rap = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    const plain = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await rap.subscribeAsync('rap/t', { qos: 1, rap: true });
    await plain.subscribeAsync('rap/t', { qos: 1 });
    await pub.publishAsync('rap/t', 'live', { qos: 1, retain: true });
    assert.equal(at(await rap.inbox.waitFor(1), 0).packet.retain, true, 'retain as published');
    assert.equal(at(await plain.inbox.waitFor(1), 0).packet.retain, false, 'live messages lose the flag');

    await pub.publishAsync('rh/t', 'kept', { qos: 1, retain: true });
    const subscribeTwice = async (rh: 0 | 1 | 2) => {
      const c = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
      await c.subscribeAsync('rh/t', { qos: 1, rh });
      await c.subscribeAsync('rh/t', { qos: 1, rh });
      await c.subscribeAsync('rh/#', { qos: 1, rh }); // a new subscription
      await sleep(100);
      const n = c.inbox.items.length;
      assert.ok(c.inbox.items.every((m) => m.packet.retain && m.payload.toString() === 'kept'));
      await endAll(c);
      return n;
    };
    assert.equal(await subscribeTwice(0), 3, 'rh 0: on every subscribe');
    assert.equal(await subscribeTwice(1), 2, 'rh 1: only when the subscription is new');
    assert.equal(await subscribeTwice(2), 0, 'rh 2: never');
    await endAll(pub, rap, plain);
  });
});

test('subscription identifiers: attached per subscription, replaced by a new SUBSCRIBE, 0 is a protocol error', async () => {
  await withMqtt({}, async (h) => {
    const sub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await sub.subscribeAsync('sid/a', { qos: 1, properties: { subscriptionIdentifier: 268435455 } });
    await sub.subscribeAsync('sid/b', { qos: 1 });
    const pub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await pub.publishAsync('sid/a', '1', { qos: 1 });
    await pub.publishAsync('sid/b', '2', { qos: 1 });
    await sub.subscribeAsync('sid/a', { qos: 1 }); // same filter, now without an id
    await pub.publishAsync('sid/a', '3', { qos: 1 });
    const got = await sub.inbox.waitFor(3);
    assert.deepEqual(
      got.map((m) => m.packet.properties?.subscriptionIdentifier),
      [268435455, undefined, undefined],
    );
    const { raw } = await RawMqtt.connect(h.mqttPort, 5);
    raw.send({
      cmd: 'subscribe',
      messageId: 1,
      properties: { subscriptionIdentifier: 0 },
      subscriptions: [{ topic: 'x', qos: 0 }],
    });
    await raw.expectDisconnect(0x82);
    await endAll(sub, pub);
  });
});

test('unsubscribe: reason codes per filter in v5, nothing delivered afterwards', async () => {
  await withMqtt({}, async (h) => {
    const { raw } = await RawMqtt.connect(h.mqttPort, 5);
    raw.send({
      cmd: 'subscribe',
      messageId: 1,
      subscriptions: [
        { topic: 'un/a', qos: 1 },
        { topic: '$share/g/un/b', qos: 1 },
      ],
    });
    await raw.next('suback');
    raw.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['un/a', 'un/never', '$share/g/un/b'] });
    const unsuback = (await raw.next('unsuback')) as IUnsubackPacket;
    assert.equal(unsuback.messageId, 2);
    assert.deepEqual(unsuback.granted, [0x00, 0x11, 0x00]);
    const pub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await pub.publishAsync('un/a', 'x', { qos: 1 });
    await pub.publishAsync('un/b', 'x', { qos: 1 });
    await raw.nothingFor(100, 'publish');
    raw.destroy();
    // 3.1.1: an UNSUBACK without reason codes.
    const { raw: v4 } = await RawMqtt.connect(h.mqttPort, 4);
    v4.send({ cmd: 'unsubscribe', messageId: 3, unsubscriptions: ['un/never'] });
    const u4 = (await v4.next('unsuback')) as IUnsubackPacket;
    assert.equal(u4.messageId, 3);
    v4.destroy();
    await endAll(pub);
  });
});

test('limits.max_subscriptions_per_connection refuses the extra filter with 0x97 (v5) / 0x80 (3.1.1)', async () => {
  await withMqtt({ limits: { max_subscriptions_per_connection: 2 } }, async (h) => {
    for (const version of [4, 5] as const) {
      const { raw } = await RawMqtt.connect(h.mqttPort, version);
      raw.send({
        cmd: 'subscribe',
        messageId: 1,
        subscriptions: ['l/1', 'l/2', 'l/3', 'l/1'].map((topic) => ({ topic, qos: 1 as const })),
      });
      const suback = (await raw.next('suback')) as ISubackPacket;
      assert.deepEqual(
        suback.granted,
        [1, 1, version === 5 ? 0x97 : 0x80, 1],
        'resubscribing is not a new one',
      );
      raw.destroy();
    }
  });
});
