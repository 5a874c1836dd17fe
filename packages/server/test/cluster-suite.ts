import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type PresenceEvent, type Publication, PulseClient } from '@pulse/client';
import WebSocket from 'ws';
import { at } from '@pulse/protocol/test/element';
import { Inbox, freePort, metricValue, scrape, sleep, tcpClient, wsClient } from './helpers.js';
import { type Node, settled, startNode } from './cluster-nodes.js';
import { JsonWs } from './json-ws.js';
import { endAll, eventually, mqttClient } from './mqtt-helpers.js';
import type { EngineServer } from './cluster-engine-contract.js';
import { spawnPulse } from './pulse-process.js';
import { clusterMqttSuite } from './cluster-mqtt-suite.js';

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

export interface DisposableServer extends EngineServer {
  /** Stops it for good and removes its files. */
  dispose(): Promise<void>;
}

/** The multi-node tests, for one engine: real Pulse nodes joined through a real engine server. */
export function clusterSuite(kind: 'nats' | 'redis', startEngine: () => Promise<DisposableServer>): void {
  describe(`cluster over ${kind}-server: three nodes, one channel space`, () => {
    let engineServer: DisposableServer;
    let a: Node;
    let b: Node;
    let c: Node;

    before(async () => {
      engineServer = await startEngine();
      const cluster = { engine: kind, url: engineServer.url };
      [a, b, c] = await Promise.all([
        startNode({ ...cluster, node_name: 'a' }, { auth: { api_keys: [KEY] } }),
        startNode({ ...cluster, node_name: 'b' }, { auth: { api_keys: [KEY] } }),
        startNode({ ...cluster, node_name: 'c' }, { auth: { api_keys: [KEY] } }),
      ]);
    });
    after(async () => {
      await Promise.all([a?.stop(), b?.stop(), c?.stop()]);
      await engineServer?.dispose();
    });

    test('each node joined and said so in one log line', () => {
      for (const node of [a, b, c]) {
        assert.equal(node.cluster.stats.state, 'connected');
        const joined = node.logs.filter((l) =>
          l.msg.startsWith(`cluster: joined through ${kind} at ${kind}://127.0.0.1:`),
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
      const before = {
        a: a.cluster.stats.received,
        b: b.cluster.stats.received,
        c: c.cluster.stats.received,
      };
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

  describe(`cluster over ${kind}-server: faults`, () => {
    test('the engine unreachable at start: the node serves its local clients, says so once, and joins when the engine comes up', async () => {
      const engineServer = await startEngine();
      await engineServer.stop();
      const lonely = await startNode({ engine: kind, url: engineServer.url, node_name: 'early' });
      let other: Node | undefined;
      try {
        assert.equal(lonely.cluster.stats.state, 'disconnected');
        const lines = lonely.logs.filter((l) => l.msg.startsWith('cluster: '));
        assert.equal(lines.length, 1, JSON.stringify(lines));
        assert.match(
          at(lines, 0).msg,
          new RegExp(
            `^cluster: ${kind} at ${kind}://127\\.0\\.0\\.1:\\d+ unreachable; serving local clients only, retrying$`,
          ),
        );
        // Local delivery works meanwhile.
        const local = await wsClient(lonely);
        const inbox = new Inbox<Publication>();
        await local.subscribe('alone', inbox.push);
        await local.publish('alone', 'still here');
        assert.equal(text(at(await inbox.waitFor(1), 0)), 'still here');
        assert.ok(lonely.cluster.stats.lost >= 1, 'what could not cross is counted');

        await engineServer.restart();
        await eventually(() => lonely.cluster.stats.state === 'connected', 'the node joined', 10_000);
        other = await startNode({ engine: kind, url: engineServer.url, node_name: 'late' });
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
        await engineServer.dispose();
      }
    });

    test('cluster.required: a node refuses to start without its engine, in one line', async () => {
      const engineServer = await startEngine();
      await engineServer.stop();
      try {
        await assert.rejects(
          startNode({ engine: kind, url: engineServer.url, required: true }),
          (err: Error) =>
            new RegExp(`^cluster.required: ${kind} at ${kind}://127\\.0\\.0\\.1:\\d+ unreachable: `).test(
              err.message,
            ) && !err.message.includes('\n'),
        );
      } finally {
        await engineServer.dispose();
      }
    });

    test('the engine server restarted mid-stream: nodes keep serving, count what was lost, and deliver across again', async () => {
      const engineServer = await startEngine();
      const cluster = { engine: kind, url: engineServer.url };
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

        await engineServer.stop();
        await eventually(() => a.cluster.stats.state === 'disconnected', 'A saw the loss');
        const lostBefore = a.cluster.stats.lost;
        for (let i = 0; i < 5; i++) await pub.publish('stream', `gap${i}`);
        assert.equal(a.cluster.stats.lost - lostBefore, 5);
        assert.equal((await local.waitFor(6)).length, 6, 'local subscribers got every one');
        assert.ok(
          a.logs.some((l) =>
            new RegExp(`^cluster: ${kind} at .* lost; serving local clients only, retrying$`).test(l.msg),
          ),
        );
        const lostMetric = metricValue(await scrape(a), 'pulse_cluster_publications_lost_total');
        assert.ok(lostMetric >= 5);
        assert.equal(metricValue(await scrape(a), 'pulse_cluster_engine_connected'), 0);

        await engineServer.restart();
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
        await engineServer.dispose();
      }
    });
  });

  describe(`cluster over ${kind}-server: presence`, () => {
    let engineServer: DisposableServer;
    let a: Node;
    let b: Node;

    before(async () => {
      engineServer = await startEngine();
      const cluster = { engine: kind, url: engineServer.url, presence_ttl_ms: 1500 };
      [a, b] = await Promise.all([
        startNode(cluster, { auth: { api_keys: [KEY] } }),
        startNode(cluster, { auth: { api_keys: [KEY] } }),
      ]);
    });
    after(async () => {
      await Promise.all([a?.stop(), b?.stop()]);
      await engineServer?.dispose();
    });

    test('sync on any node lists the members of every node; join, update and leave events cross', async () => {
      const onA = await wsClient(a);
      const onB = await tcpClient(b);
      const events = new Inbox<PresenceEvent>();
      try {
        await onB.subscribe('room', () => {});
        await onB.presence.join('room', { name: 'bea' });
        // From here on, the events of A's member only.
        onB.onPresence((e) => {
          if (e.data?.name === 'ann') events.push(e);
        });
        await onA.presence.join('room', { name: 'ann', deep: { list: [1, 2] } });
        const [join] = await events.waitFor(1);
        assert.equal(join?.action, 'join');
        assert.deepEqual(join?.data, { name: 'ann', deep: { list: [1, 2] } });
        const idOfAnn = join?.connectionId ?? '';
        await eventually(
          async () => Object.keys(await onA.presence.sync('room')).length === 2,
          'A sees both',
        );
        assert.deepEqual(
          Object.values(await onB.presence.sync('room'))
            .map((d) => d.name)
            .sort(),
          ['ann', 'bea'],
        );
        const viaHttp = await fetch(`${b.httpUrl}/api/presence/room`, { headers: { 'x-api-key': KEY } });
        const body = (await viaHttp.json()) as { presence: Record<string, { name: string }> };
        assert.equal(body.presence[idOfAnn]?.name, 'ann', 'the HTTP API answers for the cluster too');

        await onA.presence.update('room', { name: 'ann', typing: true });
        const [, update] = await events.waitFor(2);
        assert.equal(update?.action, 'update');
        assert.deepEqual(update?.data, { name: 'ann', typing: true });

        await onA.presence.leave('room');
        const [, , leave] = await events.waitFor(3);
        assert.equal(leave?.action, 'leave');
        assert.equal(leave?.connectionId, idOfAnn);
        assert.deepEqual(Object.keys(await onB.presence.sync('room')).length, 1);
      } finally {
        onA.close();
        onB.close();
      }
    });

    test('a member whose connection closes leaves on every node; a node started later learns the members already there', async () => {
      const onA = await wsClient(a);
      await onA.presence.join('lobby', { n: 1 });
      const late = await startNode({ engine: kind, url: engineServer.url, presence_ttl_ms: 1500 });
      const watcher = await wsClient(late);
      try {
        await eventually(
          async () => Object.keys(await watcher.presence.sync('lobby')).length === 1,
          'the late node learnt',
        );
        const leaves = new Inbox<PresenceEvent>();
        watcher.onPresence(leaves.push);
        await watcher.subscribe('lobby', () => {});
        await settled(late);
        onA.close();
        const [leave] = await leaves.waitFor(1);
        assert.equal(leave?.action, 'leave');
        assert.deepEqual(await watcher.presence.sync('lobby'), {});
      } finally {
        watcher.close();
        await late.stop();
      }
    });

    test('a node that stops says goodbye: its members leave the other nodes at once', async () => {
      const leaving = await startNode({ engine: kind, url: engineServer.url, presence_ttl_ms: 60_000 });
      const member = await wsClient(leaving);
      await member.presence.join('bye-room');
      const watcher = await wsClient(b);
      try {
        await eventually(
          async () => Object.keys(await watcher.presence.sync('bye-room')).length === 1,
          'B sees it',
        );
        await leaving.stop();
        // Well before the 60 s TTL of that node.
        await eventually(
          async () => Object.keys(await watcher.presence.sync('bye-room')).length === 0,
          'gone',
          2000,
        );
      } finally {
        watcher.close();
      }
    });
  });

  describe(`cluster over ${kind}-server: a node killed with SIGKILL`, () => {
    test('the other node keeps serving and the dead node members expire after cluster.presence_ttl_ms', async () => {
      const engineServer = await startEngine();
      const survivor = await startNode({ engine: kind, url: engineServer.url, presence_ttl_ms: 1500 });
      const port = await freePort();
      const victim = spawnPulse(
        [
          '--port',
          String(port),
          '--tcp-port',
          '0',
          '--metrics-port',
          '0',
          '--mqtt-port',
          '0',
          '--cluster-presence-ttl-ms',
          '1500',
          '--cluster-engine',
          kind,
          '--cluster-url',
          engineServer.url,
        ],
        {},
      );
      try {
        await victim.ready;
        const doomed = await PulseClient.connect(`ws://127.0.0.1:${port}/ws`, {
          WebSocket: WebSocket as never,
        });
        await doomed.presence.join('vigil', { who: 'doomed' });
        const watcher = await wsClient(survivor);
        const events = new Inbox<PresenceEvent>();
        watcher.onPresence(events.push);
        await watcher.subscribe('vigil', () => {});
        await eventually(
          async () => Object.keys(await watcher.presence.sync('vigil')).length === 1,
          'member seen',
        );
        // The remote join may reach the survivor after the watcher subscribed; it is then an
        // event before the sync answer. Only what follows the kill is under test.
        events.items.splice(0);
        await victim.kill();
        const killedAt = Date.now();
        const [leave] = await events.waitFor(1, 5000);
        const after = Date.now() - killedAt;
        assert.equal(leave?.action, 'leave');
        assert.deepEqual(leave?.data, { who: 'doomed' });
        assert.ok(
          after >= 900 && after < 3500,
          `expired ${after} ms after the kill (TTL 1500 ms, checked every 500 ms)`,
        );
        assert.deepEqual(await watcher.presence.sync('vigil'), {});
        // The survivor serves on.
        const inbox = new Inbox<Publication>();
        await watcher.subscribe('still', inbox.push);
        await watcher.publish('still', 'alive');
        await inbox.waitFor(1);
        watcher.close();
        doomed.close();
      } finally {
        await victim.kill();
        await survivor.stop();
        await engineServer.dispose();
      }
    });
  });

  clusterMqttSuite(kind, startEngine);
}
