import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Publication } from '@pulse/client';
import { at } from '@pulse/protocol/test/element';
import { Inbox, metricValue, scrape, sleep, tcpClient, wsClient } from './helpers.js';
import { type Node, settled, startNode } from './cluster-nodes.js';
import { JsonWs } from './json-ws.js';
import { endAll, eventually, mqttClient } from './mqtt-helpers.js';
import { type NatsServer, startNatsServer } from './nats-server.js';

const KEY = 'cluster-test-api-key-0123456789';
/** Every byte value, and a NUL in the middle of a UTF-8 string. */
const BYTES = Buffer.concat([
  Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
  Buffer.from('h\u0000é✓'),
]);

async function apiPublish(
  node: Node,
  path: string,
  body: unknown,
): Promise<{ status: number; json: { delivered?: number } }> {
  const res = await fetch(node.httpUrl + path, {
    method: 'POST',
    headers: { 'x-api-key': KEY, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

const text = (p: Publication) => Buffer.from(p.payload).toString('utf8');

describe('cluster over nats-server: three nodes, one channel space', () => {
  let nats: NatsServer;
  let a: Node;
  let b: Node;
  let c: Node;

  before(async () => {
    nats = await startNatsServer();
    const cluster = { engine: 'nats' as const, url: nats.url };
    [a, b, c] = await Promise.all([
      startNode({ ...cluster, node_name: 'a' }, { auth: { api_keys: [KEY] } }),
      startNode({ ...cluster, node_name: 'b' }, { auth: { api_keys: [KEY] } }),
      startNode({ ...cluster, node_name: 'c' }, { auth: { api_keys: [KEY] } }),
    ]);
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop(), c?.stop()]);
    await nats?.dispose();
  });

  test('each node joined and said so in one log line', () => {
    for (const node of [a, b, c]) {
      assert.equal(node.cluster.stats.state, 'connected');
      const joined = node.logs.filter((l) =>
        l.msg.startsWith('cluster: joined through nats at nats://127.0.0.1:'),
      );
      assert.equal(joined.length, 1, JSON.stringify(node.logs.map((l) => l.msg)));
    }
  });

  test('a publication from every protocol on A reaches native, JSON and MQTT subscribers on B, bytes unchanged, once', async () => {
    const nativeWs = await wsClient(b);
    const nativeTcp = await tcpClient(b);
    const json = await JsonWs.open(b);
    const mq = await mqttClient(b.tcpUrl, { protocolVersion: 5 });
    const mq311 = await mqttClient(b.mqttWsUrl, { protocolVersion: 4 });
    const publisherNative = await tcpClient(a);
    const publisherMqtt = await mqttClient(a.tcpUrl, { protocolVersion: 5 });
    try {
      const wsInbox = new Inbox<Publication>();
      const tcpInbox = new Inbox<Publication>();
      await nativeWs.subscribe('x/bytes', wsInbox.push);
      await nativeTcp.subscribe('x/+', tcpInbox.push);
      await json.ok('subscribe', { channel: 'x/json' });
      await mq.subscribeAsync('x/#', { qos: 1 });
      await mq311.subscribeAsync('x/bytes', { qos: 2 });
      await settled(b);

      await publisherNative.publish('x/bytes', BYTES);
      for (const qos of [0, 1, 2] as const) await publisherMqtt.publishAsync('x/bytes', BYTES, { qos });
      const single = await apiPublish(a, '/api/publish', { channel: 'x/json', data: { n: 1, s: 'é' } });
      assert.equal(single.status, 200);
      assert.equal(single.json.delivered, 0, 'delivered counts the subscribers of the node that answers');
      const many = await apiPublish(a, '/api/broadcast', { channels: ['x/json', 'x/bytes'], data: [true] });
      assert.equal(many.status, 200);

      const got = await wsInbox.waitFor(5);
      for (const p of got.slice(0, 4)) assert.deepEqual(Buffer.from(p.payload), BYTES);
      assert.equal(text(at(got, 4)), '[true]');
      const [j1, j2] = await json.pushes.waitFor(2);
      assert.deepEqual(j1.params, { channel: 'x/json', data: { n: 1, s: 'é' } });
      assert.deepEqual(j2.params.data, [true]);
      // x/+ and x/# each match every one of the seven publications once.
      await tcpInbox.waitFor(7);
      await mq.inbox.waitFor(7);
      const mqBytes = mq.inbox.items.filter((m) => m.topic === 'x/bytes').slice(0, 4);
      for (const m of mqBytes) assert.deepEqual(m.payload, BYTES);
      await mq311.inbox.waitFor(5);
      await sleep(150);
      assert.equal(wsInbox.items.length, 5, 'each publication reached the subscriber once');
      assert.equal(tcpInbox.items.length, 7);
      assert.equal(mq.inbox.items.length, 7);
      assert.equal(mq311.inbox.items.length, 5);
      assert.equal(json.pushes.items.length, 2);
      assert.equal(at(mq311.inbox.items, 3).packet.qos, 2, 'QoS crosses the nodes (granted 2)');
    } finally {
      nativeWs.close();
      nativeTcp.close();
      json.close();
      publisherNative.close();
      await endAll(mq, mq311, publisherMqtt);
    }
  });

  test('publish order per publisher and channel holds across nodes, for two publishers at once', async () => {
    const sub = await wsClient(c);
    const inbox = new Inbox<Publication>();
    await sub.subscribe('order', inbox.push);
    await settled(c);
    const onA = await wsClient(a);
    const onB = await mqttClient(b.tcpUrl, { protocolVersion: 5 });
    try {
      const N = 300;
      await Promise.all([
        (async () => {
          for (let i = 0; i < N; i++) void onA.publish('order', `a${i}`);
        })(),
        (async () => {
          for (let i = 0; i < N; i++) onB.publish('order', `b${i}`, { qos: 0 });
        })(),
      ]);
      const got = (await inbox.waitFor(2 * N, 10_000)).map(text);
      assert.deepEqual(
        got.filter((t) => t.startsWith('a')),
        Array.from({ length: N }, (_, i) => `a${i}`),
      );
      assert.deepEqual(
        got.filter((t) => t.startsWith('b')),
        Array.from({ length: N }, (_, i) => `b${i}`),
      );
    } finally {
      sub.close();
      onA.close();
      await endAll(onB);
    }
  });

  test('routing is by interest: a node without subscribers of a channel receives none of its publications', async () => {
    const sub = await tcpClient(b);
    const inbox = new Inbox<Publication>();
    await sub.subscribe('only:b', inbox.push);
    await settled(b);
    const pub = await tcpClient(a);
    const before = { a: a.cluster.stats.received, b: b.cluster.stats.received, c: c.cluster.stats.received };
    try {
      for (let i = 0; i < 50; i++) await pub.publish('only:b', `m${i}`);
      await inbox.waitFor(50);
      await sleep(100);
      assert.equal(b.cluster.stats.received - before.b, 50);
      assert.equal(c.cluster.stats.received - before.c, 0, 'C has no subscriber of only:b');
      assert.equal(a.cluster.stats.received - before.a, 0, 'the publishing node does not get its own back');
      // The last subscriber gone, B stops receiving too.
      await sub.unsubscribe('only:b');
      await settled(b);
      const afterUnsubscribe = b.cluster.stats.received;
      for (let i = 0; i < 20; i++) await pub.publish('only:b', `late${i}`);
      await sleep(200);
      assert.equal(b.cluster.stats.received, afterUnsubscribe);
    } finally {
      sub.close();
      pub.close();
    }
  });

  test('wildcard filters route across nodes: + one level, # the parent and below', async () => {
    const mq = await mqttClient(c.tcpUrl, { protocolVersion: 5 });
    const native = await wsClient(b);
    const nativeInbox = new Inbox<Publication>();
    const pub = await mqttClient(a.tcpUrl, { protocolVersion: 4 });
    try {
      await mq.subscribeAsync('sensors/#', { qos: 1 });
      await native.subscribe('sensors/+/temp', nativeInbox.push);
      await settled(b, c);
      const topics = [
        'sensors',
        'sensors/1/temp',
        'sensors/1/humidity',
        'sensors/1/temp/raw',
        'other/1/temp',
      ];
      for (const topic of topics) await pub.publishAsync(topic, topic, { qos: 1 });
      await mq.inbox.waitFor(4);
      await nativeInbox.waitFor(1);
      await sleep(150);
      assert.deepEqual(
        mq.inbox.items.map((m) => m.topic),
        ['sensors', 'sensors/1/temp', 'sensors/1/humidity', 'sensors/1/temp/raw'],
      );
      assert.deepEqual(nativeInbox.items.map(text), ['sensors/1/temp']);
    } finally {
      native.close();
      await endAll(mq, pub);
    }
  });

  test('pulse_cluster_* metrics report the engine state and the publications sent and received', async () => {
    const sub = await tcpClient(b);
    await sub.subscribe('metered', () => {});
    await settled(b);
    const pub = await tcpClient(a);
    try {
      const sentBefore = metricValue(await scrape(a), 'pulse_cluster_publications_sent_total');
      const receivedBefore = metricValue(await scrape(b), 'pulse_cluster_publications_received_total');
      for (let i = 0; i < 10; i++) await pub.publish('metered', 'x');
      await eventually(
        async () =>
          metricValue(await scrape(b), 'pulse_cluster_publications_received_total') - receivedBefore === 10,
        'B counted 10 received',
      );
      const textA = await scrape(a);
      assert.equal(metricValue(textA, 'pulse_cluster_publications_sent_total') - sentBefore, 10);
      assert.equal(metricValue(textA, 'pulse_cluster_engine_connected'), 1);
      assert.match(textA, /pulse_cluster_lag_seconds/);
    } finally {
      sub.close();
      pub.close();
    }
  });
});

describe('cluster over nats-server: faults', () => {
  test('the engine unreachable at start: the node serves its local clients, says so once, and joins when nats comes up', async () => {
    const nats = await startNatsServer();
    await nats.stop();
    const lonely = await startNode({ engine: 'nats', url: nats.url, node_name: 'early' });
    let other: Node | undefined;
    try {
      assert.equal(lonely.cluster.stats.state, 'disconnected');
      const lines = lonely.logs.filter((l) => l.msg.startsWith('cluster: '));
      assert.equal(lines.length, 1, JSON.stringify(lines));
      assert.match(
        at(lines, 0).msg,
        /^cluster: nats at nats:\/\/127\.0\.0\.1:\d+ unreachable; serving local clients only, retrying$/,
      );
      // Local delivery works meanwhile.
      const local = await wsClient(lonely);
      const inbox = new Inbox<Publication>();
      await local.subscribe('alone', inbox.push);
      await local.publish('alone', 'still here');
      assert.equal(text(at(await inbox.waitFor(1), 0)), 'still here');
      assert.ok(lonely.cluster.stats.lost >= 1, 'what could not cross is counted');

      await nats.restart();
      await eventually(() => lonely.cluster.stats.state === 'connected', 'the node joined', 10_000);
      other = await startNode({ engine: 'nats', url: nats.url, node_name: 'late' });
      const remote = await tcpClient(other);
      await remote.publish('alone', 'from the other node');
      assert.equal(
        text(at(await inbox.waitFor(2), 1)),
        'from the other node',
        'interest held before the join was established',
      );
      local.close();
      remote.close();
    } finally {
      await lonely.stop();
      await other?.stop();
      await nats.dispose();
    }
  });

  test('cluster.required: a node refuses to start without its engine, in one line', async () => {
    const nats = await startNatsServer();
    await nats.stop();
    try {
      await assert.rejects(
        startNode({ engine: 'nats', url: nats.url, required: true }),
        (err: Error) =>
          /^cluster.required: nats at nats:\/\/127\.0\.0\.1:\d+ unreachable: /.test(err.message) &&
          !err.message.includes('\n'),
      );
    } finally {
      await nats.dispose();
    }
  });

  test('nats-server restarted mid-stream: nodes keep serving, count what was lost, and deliver across again', async () => {
    const nats = await startNatsServer();
    const cluster = { engine: 'nats' as const, url: nats.url };
    const a = await startNode(cluster);
    const b = await startNode(cluster);
    const sub = await wsClient(b);
    const localSub = await wsClient(a);
    const pub = await tcpClient(a);
    try {
      const remote = new Inbox<Publication>();
      const local = new Inbox<Publication>();
      await sub.subscribe('stream', remote.push);
      await localSub.subscribe('stream', local.push);
      await settled(b);
      await pub.publish('stream', 'before');
      await remote.waitFor(1);

      await nats.stop();
      await eventually(() => a.cluster.stats.state === 'disconnected', 'A saw the loss');
      const lostBefore = a.cluster.stats.lost;
      for (let i = 0; i < 5; i++) await pub.publish('stream', `gap${i}`);
      assert.equal(a.cluster.stats.lost - lostBefore, 5);
      assert.equal((await local.waitFor(6)).length, 6, 'local subscribers got every one');
      assert.ok(
        a.logs.some((l) => /^cluster: nats at .* lost; serving local clients only, retrying$/.test(l.msg)),
      );
      const lostMetric = metricValue(await scrape(a), 'pulse_cluster_publications_lost_total');
      assert.ok(lostMetric >= 5);
      assert.equal(metricValue(await scrape(a), 'pulse_cluster_engine_connected'), 0);

      await nats.restart();
      await eventually(
        () => a.cluster.stats.state === 'connected' && b.cluster.stats.state === 'connected',
        'both nodes back',
        15_000,
      );
      await pub.publish('stream', 'after');
      const got = (await remote.waitFor(2, 5000)).map(text);
      assert.deepEqual(
        got,
        ['before', 'after'],
        'what was published in the gap did not cross; nothing else was lost',
      );
      assert.equal(a.cluster.stats.disconnects, 1);
    } finally {
      sub.close();
      localSub.close();
      pub.close();
      await a.stop();
      await b.stop();
      await nats.dispose();
    }
  });
});
