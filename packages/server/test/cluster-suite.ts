import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type PresenceEvent, type Publication, PulseClient } from '@pulse/client';
import WebSocket from 'ws';
import { at } from '@pulse/protocol/test/element';
import { Inbox, metricValue, scrape, sleep, tcpClient, wsClient } from './helpers.js';
import { type Node, settled, spawnNodeProcess, startNode } from './cluster-nodes.js';
import { JsonWs } from './json-ws.js';
import { endAll, eventually, mqttClient } from './mqtt-helpers.js';
import type { EngineServer } from './cluster-engine-contract.js';
import { clusterMqttSuite } from './cluster-mqtt-suite.js';
import { flushHistory } from './cluster-history-flush.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clusterShareApiSuite } from './cluster-share-api-suite.js';

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

    test("an MQTT subscriber of '+' on a node (interest that covers the control channel) does not make a remote join arrive twice", async () => {
      const wide = await mqttClient(a.tcpUrl, { protocolVersion: 5 });
      const watcher = await wsClient(a);
      const member = await wsClient(b);
      const events = new Inbox<PresenceEvent>();
      try {
        await new Promise((resolve) => wide.subscribe('+', resolve));
        watcher.onPresence(events.push);
        await watcher.subscribe('wide-room', () => {});
        await settled(a, b);
        await member.presence.join('wide-room', { n: 1 });
        await events.waitFor(1);
        await sleep(300);
        assert.deepEqual(
          events.items.map((e) => e.action),
          ['join'],
        );
      } finally {
        watcher.close();
        member.close();
        await endAll(wide);
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

  describe(`cluster over ${kind}-server: a node paused past cluster.presence_ttl_ms`, () => {
    test('its members leave the other nodes, and come back when it resumes (its engine connection never dropped)', async () => {
      const engineServer = await startEngine();
      const other = await startNode({ engine: kind, url: engineServer.url, presence_ttl_ms: 1500 });
      const { process: paused, port } = await spawnNodeProcess(kind, engineServer.url, 1500);
      try {
        await paused.ready;
        const there = await PulseClient.connect(`ws://127.0.0.1:${port}/ws`, {
          WebSocket: WebSocket as never,
        });
        await there.presence.join('pause-room', { who: 'paused' });
        const onOther = await wsClient(other);
        await onOther.presence.join('pause-room', { who: 'other' });
        const here = onOther;
        const count = async (client: PulseClient) =>
          Object.keys(await client.presence.sync('pause-room')).length;
        await eventually(async () => (await count(here)) === 2, 'both members on the other node');
        paused.child.kill('SIGSTOP');
        await eventually(async () => (await count(here)) === 1, 'the paused node members gone', 5000);
        paused.child.kill('SIGCONT');
        await eventually(async () => (await count(here)) === 2, 'back on the other node', 5000);
        await eventually(async () => (await count(there)) === 2, 'and the other node back on it', 5000);
        there.close();
        onOther.close();
      } finally {
        paused.child.kill('SIGCONT');
        await paused.kill();
        await other.stop();
        await engineServer.dispose();
      }
    });
  });

  describe(`cluster over ${kind}-server: a node killed with SIGKILL`, () => {
    test('the other node keeps serving and the dead node members expire after cluster.presence_ttl_ms', async () => {
      const engineServer = await startEngine();
      const survivor = await startNode({ engine: kind, url: engineServer.url, presence_ttl_ms: 1500 });
      const { process: victim, port } = await spawnNodeProcess(kind, engineServer.url, 1500);
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

  describe(`cluster over ${kind}-server: history and recovery`, () => {
    const HISTORY = [{ pattern: 'h/#', size: 100, ttl_ms: 0 }];
    let engineServer: DisposableServer;
    let a: Node;
    let b: Node;
    let c: Node;
    const clients: PulseClient[] = [];
    const client = async (node: Node) => {
      const pulse = await wsClient(node);
      clients.push(pulse);
      return pulse;
    };
    const payloads = (list: Publication[]) => list.map(text);

    before(async () => {
      engineServer = await startEngine();
      const cluster = { engine: kind, url: engineServer.url };
      const overrides = { auth: { api_keys: [KEY] }, history: HISTORY };
      [a, b, c] = await Promise.all([
        startNode({ ...cluster, node_name: 'ha' }, overrides),
        startNode({ ...cluster, node_name: 'hb' }, overrides),
        startNode({ ...cluster, node_name: 'hc' }, overrides),
      ]);
      for (const node of [a, b, c]) {
        await eventually(async () => node.server.cluster?.history?.store.ready === true, 'history ready');
      }
    });
    after(async () => {
      for (const pulse of clients) pulse.close();
      await Promise.all([a?.stop(), b?.stop(), c?.stop()]);
      await engineServer?.dispose();
    });

    test('publish on A, recover on B: recovered true with exactly the missed publications, in order', async () => {
      const publisher = await client(a);
      const reader = await client(b);
      const seen = new Inbox<Publication>();
      const first = await reader.subscribe('h/recover', seen.push);
      assert.equal(first.offset, 0, 'a new stream: offset 0');
      assert.equal(typeof first.epoch, 'string');
      await settled(a, b);
      await publisher.publish('h/recover', 'one');
      const [one] = await seen.waitFor(1);
      assert.equal(one?.offset, 1);
      assert.equal(one?.epoch, first.epoch);
      reader.close();
      for (const word of ['two', 'three', 'four']) await publisher.publish('h/recover', word);
      const back = await client(b);
      const missed = new Inbox<Publication>();
      const ack = await back.subscribe('h/recover', missed.push, {
        recover: { offset: 1, epoch: first.epoch as string },
      });
      assert.deepEqual(ack, { recovered: true, offset: 4, epoch: first.epoch });
      const got = await missed.waitFor(3);
      assert.deepEqual(payloads(got), ['two', 'three', 'four']);
      assert.deepEqual(
        got.map((p) => p.offset),
        [2, 3, 4],
      );
      await publisher.publish('h/recover', 'five');
      const five = (await missed.waitFor(4))[3];
      assert.equal(text(five as Publication), 'five');
      await sleep(100);
      assert.equal(missed.items.length, 4, 'no duplicate');
      // On C, which never had a subscriber of it, from the start of the stream.
      const onC = await client(c);
      const all = new Inbox<Publication>();
      const fromStart = await onC.subscribe('h/recover', all.push, {
        recover: { offset: 0, epoch: first.epoch as string },
      });
      assert.equal(fromStart.recovered, true);
      assert.deepEqual(payloads(await all.waitFor(5)), ['one', 'two', 'three', 'four', 'five']);
      // A position of another epoch: not recovered, nothing replayed.
      const stale = await (await client(c)).subscribe('h/recover', () => assert.fail('replayed'), {
        recover: { offset: 2, epoch: 'not-the-epoch' },
      });
      assert.deepEqual(stale, { recovered: false, offset: 5, epoch: first.epoch });
    });

    test('GET /api/history on B lists the publications made on A (and JSON history on C)', async () => {
      const publisher = await client(a);
      for (const word of ['x', 'y', 'z']) await publisher.publish('h/api', word);
      const res = await fetch(`${b.httpUrl}/api/history/${encodeURIComponent('h/api')}`, {
        headers: { 'x-api-key': KEY },
      });
      assert.equal(res.status, 200);
      const body = (await res.json()) as {
        publications: { offset: number; data: unknown }[];
        offset: number;
      };
      assert.equal(body.offset, 3);
      assert.deepEqual(
        body.publications.map((p) => p.offset),
        [1, 2, 3],
      );
      const paged = await fetch(`${b.httpUrl}/api/history/${encodeURIComponent('h/api')}?limit=2`, {
        headers: { 'x-api-key': KEY },
      });
      const newest = (await paged.json()) as { publications: { offset: number }[] };
      assert.deepEqual(
        newest.publications.map((p) => p.offset),
        [2, 3],
      );
      const json = await JsonWs.open(c);
      try {
        const reply = (await json.ok('history', { channel: 'h/api' })) as {
          publications: unknown[];
          offset: number;
        };
        assert.equal(reply.offset, 3);
        assert.equal(reply.publications.length, 3);
      } finally {
        json.close();
      }
      const native = await (await client(c)).history('h/api', { limit: 10 });
      assert.deepEqual(native.publications.map(text), ['x', 'y', 'z']);
    });

    test('publishers on two nodes interleaved on one channel: one contiguous offset sequence, the same order on every node', async () => {
      const watchers = await Promise.all([a, b, c].map((node) => client(node)));
      const inboxes = watchers.map(() => new Inbox<Publication>());
      for (const [i, w] of watchers.entries())
        await w.subscribe('h/race', (inboxes[i] as Inbox<Publication>).push);
      await settled(a, b, c);
      const [onA, onB] = [await client(a), await client(b)];
      const N = 60;
      const sends: Promise<unknown>[] = [];
      for (let i = 0; i < N; i++) {
        sends.push(onA.publish('h/race', `a${i}`));
        sends.push(onB.publish('h/race', `b${i}`));
      }
      await Promise.all(sends);
      const lists = await Promise.all(inboxes.map((inbox) => inbox.waitFor(2 * N, 10_000)));
      const expected = Array.from({ length: 2 * N }, (_, i) => i + 1);
      for (const list of lists)
        assert.deepEqual(
          list.map((p) => p.offset),
          expected,
        );
      const order = payloads(lists[0] as Publication[]);
      for (const list of lists) assert.deepEqual(payloads(list), order, 'the same order on every node');
      for (const who of ['a', 'b']) {
        const mine = order.filter((t) => t.startsWith(who));
        assert.deepEqual(
          mine,
          Array.from({ length: N }, (_, i) => `${who}${i}`),
          `${who}'s publications in its order`,
        );
      }
      await sleep(200);
      for (const inbox of inboxes) assert.equal(inbox.items.length, 2 * N, 'no duplicate');
    });

    test('MQTT and HTTP publishes on a history channel are acknowledged once the engine took them, with offsets', async () => {
      const reader = await client(c);
      const seen = new Inbox<Publication>();
      await reader.subscribe('h/proto', seen.push);
      await settled(c);
      const mq = await mqttClient(a.tcpUrl, { protocolVersion: 5 });
      try {
        await mq.publishAsync('h/proto', 'mqtt', { qos: 1 });
        const res = await apiPublish(b, '/api/publish', { channel: 'h/proto', data: 'http' });
        assert.equal(res.status, 200);
        const got = await seen.waitFor(2);
        assert.deepEqual(
          got.map((p) => p.offset),
          [1, 2],
        );
        assert.deepEqual(payloads(got), ['mqtt', '"http"']);
      } finally {
        await endAll(mq);
      }
    });

    test('the stream lost on the engine (flushed): recovery says recovered false, never a lie; publishing goes on in a new epoch', async () => {
      const publisher = await client(a);
      await publisher.publish('h/flush', 'before');
      const { epoch } = await publisher.history('h/flush');
      await flushHistory(kind, engineServer.url);
      const ack = await (await client(b)).subscribe('h/flush', () => {}, { recover: { offset: 1, epoch } });
      assert.equal(ack.recovered, false);
      assert.notEqual(ack.epoch, epoch);
      await publisher.publish('h/flush', 'after');
      const page = await publisher.history('h/flush');
      assert.deepEqual(page.publications.map(text), ['after']);
      assert.equal(page.epoch, ack.epoch);
    });

    test('the engine down: a publication on a history channel is refused with a clear error; others still go; it works again after', async () => {
      const publisher = await client(a);
      const local = new Inbox<Publication>();
      await publisher.subscribe('plain', local.push);
      await engineServer.stop();
      try {
        await eventually(async () => a.server.cluster?.history?.store.ready === false, 'history not ready');
        await assert.rejects(
          publisher.publish('h/down', 'lost?'),
          /keeps history and the cluster's history \(\w+\) is unreachable/,
        );
        await publisher.publish('plain', 'still');
        await local.waitFor(1);
      } finally {
        await engineServer.restart();
      }
      await eventually(
        async () => a.server.cluster?.history?.store.ready === true,
        'history ready again',
        15_000,
      );
      await publisher.publish('h/down', 'back');
      const page = await publisher.history('h/down');
      assert.deepEqual(page.publications.map(text), ['back']);
    });
  });

  describe(`cluster over ${kind}-server: recovery after a node is killed with SIGKILL`, () => {
    test('a client of the killed node recovers on the survivor: recovered true, no gap, no duplicate', async () => {
      const engineServer = await startEngine();
      const dir = await mkdtemp(join(tmpdir(), 'pulse-history-kill-'));
      const config = join(dir, 'pulse.toml');
      await writeFile(config, '[[history]]\npattern = "h/#"\nsize = 100\n');
      const survivor = await startNode(
        { engine: kind, url: engineServer.url },
        { history: [{ pattern: 'h/#', size: 100, ttl_ms: 0 }] },
      );
      const { process: victim, port } = await spawnNodeProcess(kind, engineServer.url, 10_000, 0, [
        '--config',
        config,
      ]);
      const open: PulseClient[] = [];
      try {
        await victim.ready;
        const connect = async (url: string) => {
          const pulse = await PulseClient.connect(url, { WebSocket: WebSocket as never });
          open.push(pulse);
          return pulse;
        };
        const victimUrl = `ws://127.0.0.1:${port}/ws`;
        const reader = await connect(victimUrl);
        const received = new Inbox<Publication>();
        await reader.subscribe('h/kill', received.push);
        const onVictim = await connect(victimUrl);
        const onSurvivor = await wsClient(survivor);
        open.push(onSurvivor);
        await sleep(200);
        for (let i = 1; i <= 5; i++) await onSurvivor.publish('h/kill', `s${i}`);
        for (let i = 6; i <= 8; i++) await onVictim.publish('h/kill', `v${i}`);
        await received.waitFor(8);
        await victim.kill();
        for (let i = 9; i <= 12; i++) await onSurvivor.publish('h/kill', `s${i}`);
        const position = reader.lastPosition('h/kill');
        assert.equal(position?.offset, 8);
        const back = await wsClient(survivor);
        open.push(back);
        const missed = new Inbox<Publication>();
        const ack = await back.subscribe('h/kill', missed.push, { recover: position });
        assert.deepEqual(ack, { recovered: true, offset: 12, epoch: position?.epoch });
        const got = await missed.waitFor(4);
        assert.deepEqual(got.map(text), ['s9', 's10', 's11', 's12']);
        const all = [...received.items, ...got].map((p) => p.offset);
        assert.deepEqual(
          all,
          Array.from({ length: 12 }, (_, i) => i + 1),
          'no gap, no duplicate',
        );
        // What the killed node acknowledged is in the survivor's history.
        const page = await back.history('h/kill', { limit: 100 });
        assert.deepEqual(page.publications.slice(5, 8).map(text), ['v6', 'v7', 'v8']);
      } finally {
        for (const pulse of open) pulse.close();
        await victim.kill();
        await survivor.stop();
        await engineServer.dispose();
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
  clusterShareApiSuite(kind, startEngine);
  clusterMqttSuite(kind, startEngine);
}
