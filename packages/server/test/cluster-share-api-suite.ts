import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Publication, PulseClient } from '@pulse/client';
import WebSocket from 'ws';
import type { EngineServer } from './cluster-engine-contract.js';
import { type Node, type NodeProcess, settled, spawnNodeProcess, startNode } from './cluster-nodes.js';
import { Inbox, sleep, tcpClient, wsClient } from './helpers.js';
import { JsonWs } from './json-ws.js';
import { endAll, eventually, mqttClient } from './mqtt-helpers.js';
import type { PulseProcess } from './pulse-process.js';

type DisposableServer = EngineServer & { dispose(): Promise<void> };

const KEY = 'cluster-share-api-key-0123456789';
const TTL = 1500;
const text = (p: Publication) => Buffer.from(p.payload).toString('utf8');

/** A pulse process joined through the engine, killed by the test. */
async function spawnNode(kind: 'nats' | 'redis', url: string): Promise<NodeProcess> {
  const node = await spawnNodeProcess(kind, url, TTL);
  await node.process.ready;
  return node;
}

const connectTo = (wsUrl: string) => PulseClient.connect(wsUrl, { WebSocket: WebSocket as never });

/** `$share` groups, the HTTP API and subscribe acks across nodes, for one engine. */
export function clusterShareApiSuite(
  kind: 'nats' | 'redis',
  startEngine: () => Promise<DisposableServer>,
): void {
  describe(`cluster over ${kind}-server: $share groups`, () => {
    let engineServer: DisposableServer;
    let a: Node;
    let b: Node;
    let c: Node;

    before(async () => {
      engineServer = await startEngine();
      const cluster = { engine: kind, url: engineServer.url, presence_ttl_ms: TTL };
      [a, b, c] = await Promise.all([
        startNode({ ...cluster, node_name: 'a' }),
        startNode({ ...cluster, node_name: 'b' }),
        startNode({ ...cluster, node_name: 'c' }),
      ]);
    });
    after(async () => {
      await Promise.all([a?.stop(), b?.stop(), c?.stop()]);
      await engineServer?.dispose();
    });

    test('members of one group on two nodes: each publication reaches the group once cluster-wide, a plain subscriber gets all', async () => {
      const group = '$share/workers/jobs/+';
      const onA1 = await wsClient(a);
      const onA2 = await tcpClient(a);
      const onB = await mqttClient(b.tcpUrl, { protocolVersion: 5 });
      const jsonB = await JsonWs.open(b);
      const plain = await wsClient(b);
      const pubC = await tcpClient(c);
      const pubA = await mqttClient(a.tcpUrl, { protocolVersion: 5 });
      try {
        const members = { a: new Inbox<Publication>(), b: onB.inbox };
        const all = new Inbox<Publication>();
        await onA1.subscribe(group, members.a.push);
        await onA2.subscribe(group, members.a.push);
        await onB.subscribeAsync(group, { qos: 1 });
        await jsonB.ok('subscribe', { channel: group });
        await plain.subscribe('jobs/+', all.push);
        await settled(a, b, c);
        await eventually(
          () =>
            c.cluster.shareGroups.nodesHolding(group) === 2 &&
            a.cluster.shareGroups.nodesHolding(group) === 1,
          'C knows the group on A and B, A knows B',
        );

        const N = 60;
        for (let i = 0; i < N; i++) await pubC.publish('jobs/x', `c${i}`);
        for (let i = 0; i < N; i++) await pubA.publishAsync('jobs/y', `a${i}`, { qos: 1 });
        const groupTotal = () =>
          members.a.items.length +
          members.b.items.length +
          jsonB.publications('jobs/x').length +
          jsonB.publications('jobs/y').length;
        await eventually(() => groupTotal() >= 2 * N, `the group got ${2 * N}`, 10_000);
        await all.waitFor(2 * N, 10_000);
        await sleep(300);
        const got = [
          ...members.a.items.map(text),
          ...members.b.items.map((m) => m.payload.toString()),
          ...jsonB.pushes.items.filter((p) => p.method === 'publication').map((p) => String(p.params.data)),
        ];
        assert.equal(got.length, 2 * N, 'no publication reached the group twice');
        assert.equal(new Set(got).size, 2 * N, 'every publication reached the group');
        assert.equal(all.items.length, 2 * N, 'the plain subscriber got every one');
        const onNodeA = members.a.items.length;
        assert.ok(
          onNodeA >= N / 2 && onNodeA <= (3 * N) / 2,
          `both nodes take turns (A got ${onNodeA} of ${2 * N})`,
        );
      } finally {
        onA1.close();
        onA2.close();
        jsonB.close();
        plain.close();
        pubC.close();
        await endAll(onB, pubA);
      }
    });

    test('a node with members that stops, or is killed with SIGKILL: the others go on receiving', async () => {
      const group = '$share/survivors/tasks';
      const onB = await wsClient(b);
      const fromB = new Inbox<Publication>();
      await onB.subscribe(group, fromB.push);
      const pub = await tcpClient(c);
      const victims: PulseProcess[] = [];
      try {
        // Graceful stop: its members leave the group at once.
        const leaving = await startNode({ engine: kind, url: engineServer.url, presence_ttl_ms: TTL });
        const onLeaving = await wsClient(leaving);
        const fromLeaving = new Inbox<Publication>();
        await onLeaving.subscribe(group, fromLeaving.push);
        await eventually(() => c.cluster.shareGroups.nodesHolding(group) === 2, 'C knows both');
        for (let i = 0; i < 10; i++) await pub.publish('tasks', `before-stop${i}`);
        await eventually(() => fromB.items.length + fromLeaving.items.length === 10, 'ten delivered');
        assert.ok(fromLeaving.items.length > 0 && fromB.items.length > 0, 'both took turns');
        onLeaving.close();
        await leaving.stop();
        await eventually(
          () => c.cluster.shareGroups.nodesHolding(group) === 1,
          'C forgot the stopped node',
          3000,
        );
        const bBefore = fromB.items.length;
        for (let i = 0; i < 20; i++) await pub.publish('tasks', `after-stop${i}`);
        await fromB.waitFor(bBefore + 20);

        // SIGKILL: nothing said; presence's TTL finds it.
        const victim = await spawnNode(kind, engineServer.url);
        victims.push(victim.process);
        const doomed = await connectTo(victim.wsUrl);
        await doomed.subscribe(group, () => {});
        await eventually(() => c.cluster.shareGroups.nodesHolding(group) === 2, 'C knows the victim');
        await victim.process.kill();
        const killedAt = Date.now();
        const bAtKill = fromB.items.length;
        let sent = 0;
        while (Date.now() - killedAt < TTL + 1500) {
          await pub.publish('tasks', `during${sent++}`);
          await sleep(20);
        }
        await sleep(300);
        const lost = sent - (fromB.items.length - bAtKill);
        assert.ok(lost > 0, 'publications picked for the dead node before it was found dead are lost');
        assert.ok(lost <= sent / 2 + 1, `lost ${lost} of ${sent}: about every other one, within the TTL`);
        assert.equal(c.cluster.shareGroups.nodesHolding(group), 1, 'the dead node is no longer picked');
        const bAfter = fromB.items.length;
        for (let i = 0; i < 20; i++) await pub.publish('tasks', `after-kill${i}`);
        const last = (await fromB.waitFor(bAfter + 20)).slice(bAfter).map(text);
        assert.deepEqual(
          last,
          Array.from({ length: 20 }, (_, i) => `after-kill${i}`),
        );
      } finally {
        for (const victim of victims) await victim.kill();
        onB.close();
        pub.close();
      }
    });
  });

  describe(`cluster over ${kind}-server: subscribe answers wait for the engine`, () => {
    let engineServer: DisposableServer;
    let a: Node;
    let b: Node;

    before(async () => {
      engineServer = await startEngine();
      const cluster = { engine: kind, url: engineServer.url };
      [a, b] = await Promise.all([startNode(cluster), startNode(cluster)]);
    });
    after(async () => {
      await Promise.all([a?.stop(), b?.stop()]);
      await engineServer?.dispose();
    });

    const ROUNDS = 40;

    test('native: a publication on B sent the moment the ack arrives on A is received, every time', async () => {
      const sub = await tcpClient(a);
      const pub = await tcpClient(b);
      try {
        let missed = 0;
        for (let i = 0; i < ROUNDS; i++) {
          const inbox = new Inbox<Publication>();
          await sub.subscribe(`race:native:${i}`, inbox.push);
          await pub.publish(`race:native:${i}`, 'right after the ack');
          await inbox.waitFor(1, 1000).catch(() => missed++);
        }
        assert.equal(missed, 0, `${missed} of ${ROUNDS} publications missed`);
      } finally {
        sub.close();
        pub.close();
      }
    });

    test('JSON: the same, and replies keep request order while a subscribe waits', async () => {
      const sub = await JsonWs.open(a);
      const pub = await tcpClient(b);
      try {
        let missed = 0;
        for (let i = 0; i < ROUNDS; i++) {
          await sub.ok('subscribe', { channel: `race:json:${i}` });
          await pub.publish(`race:json:${i}`, '"right after the reply"');
          await eventually(() => sub.publications(`race:json:${i}`).length === 1, 'received', 1000).catch(
            () => missed++,
          );
        }
        assert.equal(missed, 0, `${missed} of ${ROUNDS} publications missed`);
        // Pipelined: a subscribe that waits, then a ping: the replies come in request order.
        const before = sub.replies.items.length;
        sub.ws.send(JSON.stringify({ id: 'first', method: 'subscribe', params: { channel: 'race:order' } }));
        sub.ws.send(JSON.stringify({ id: 'second', method: 'ping' }));
        const replies = await sub.replies.waitFor(before + 2);
        assert.deepEqual(
          replies.slice(before).map((r: { id: string }) => r.id),
          ['first', 'second'],
        );
      } finally {
        sub.close();
        pub.close();
      }
    });

    test('MQTT: a publication on B sent the moment the SUBACK arrives on A is received, every time', async () => {
      const sub = await mqttClient(a.tcpUrl, { protocolVersion: 5 });
      const pub = await mqttClient(b.tcpUrl, { protocolVersion: 4 });
      try {
        let missed = 0;
        for (let i = 0; i < ROUNDS; i++) {
          const topic = `race/mqtt/${i}`;
          await sub.subscribeAsync(topic, { qos: 1 });
          await pub.publishAsync(topic, 'right after the SUBACK', { qos: 0 });
          await eventually(() => sub.inbox.items.some((m) => m.topic === topic), 'received', 1000).catch(
            () => missed++,
          );
        }
        assert.equal(missed, 0, `${missed} of ${ROUNDS} publications missed`);
      } finally {
        await endAll(sub, pub);
      }
    });

    test('the engine down: a subscribe is answered at once', async () => {
      await engineServer.stop();
      try {
        await eventually(() => a.cluster.stats.state === 'disconnected', 'A saw the loss', 10_000);
        const sub = await tcpClient(a);
        const started = Date.now();
        await sub.subscribe('race:down', () => {});
        assert.ok(Date.now() - started < 500, `answered in ${Date.now() - started} ms`);
        sub.close();
      } finally {
        await engineServer.restart();
      }
    });
  });

  describe(`cluster over ${kind}-server: the HTTP API answers for the cluster`, () => {
    let engineServer: DisposableServer;
    let a: Node;
    let b: Node;

    before(async () => {
      engineServer = await startEngine();
      const cluster = { engine: kind, url: engineServer.url, presence_ttl_ms: TTL };
      [a, b] = await Promise.all([
        startNode({ ...cluster, node_name: 'a' }, { auth: { api_keys: [KEY] } }),
        startNode({ ...cluster, node_name: 'b' }, { auth: { api_keys: [KEY] } }),
      ]);
      await eventually(
        () => [...a.cluster.presence.peers()].length === 1 && [...b.cluster.presence.peers()].length === 1,
        'the nodes know each other',
      );
    });
    after(async () => {
      await Promise.all([a?.stop(), b?.stop()]);
      await engineServer?.dispose();
    });

    const get = async (node: Node, path: string) => {
      const res = await fetch(node.httpUrl + path, { headers: { 'x-api-key': KEY } });
      // biome-ignore lint/suspicious/noExplicitAny: checked field by field
      return { status: res.status, json: (await res.json()) as any };
    };
    const post = async (node: Node, path: string, body: unknown) => {
      const res = await fetch(node.httpUrl + path, {
        method: 'POST',
        headers: { 'x-api-key': KEY, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      // biome-ignore lint/suspicious/noExplicitAny: checked field by field
      return { status: res.status, json: (await res.json()) as any };
    };

    test('GET /api/channels on A lists the channels subscribed only on B, counts summed over the nodes', async () => {
      const onB = await wsClient(b);
      const onB2 = await mqttClient(b.tcpUrl, { protocolVersion: 5 });
      const onA = await tcpClient(a);
      try {
        await onB.subscribe('list:only-b', () => {});
        await onB.subscribe('list:both', () => {});
        await onA.subscribe('list:both', () => {});
        await onB2.subscribeAsync('list:wild/#');
        await onA.subscribe('other:a', () => {});
        const { status, json } = await get(a, '/api/channels?prefix=list:');
        assert.equal(status, 200);
        assert.deepEqual(json.channels, [
          { name: 'list:both', subscribers: 2 },
          { name: 'list:only-b', subscribers: 1 },
        ]);
        assert.deepEqual(json.wildcards, [{ filter: 'list:wild/#', subscribers: 1 }]);
        assert.equal(json.nodes, 2);
        assert.equal(json.unanswered, undefined);
        const all = await get(b, '/api/channels');
        assert.ok(
          all.json.channels.some((c: { name: string }) => c.name === 'other:a'),
          'B lists what only A holds',
        );
      } finally {
        onB.close();
        onA.close();
        await endAll(onB2);
      }
    });

    test('POST /api/disconnect on A disconnects a client on B (native by connection id, MQTT by client id)', async () => {
      const native = await wsClient(b);
      const mq = await mqttClient(b.tcpUrl, { protocolVersion: 5, clientId: 'far-away-client' });
      try {
        const mqClosed = new Promise<void>((resolve) => mq.once('close', () => resolve()));
        const byId = await post(a, '/api/disconnect', { connection_id: native.connectionId });
        assert.equal(byId.status, 200);
        assert.equal(byId.json.disconnected, 1, 'counted on the node that held it');
        assert.equal(byId.json.nodes, 2);
        await native.closed;
        const byClientId = await post(a, '/api/disconnect', { client_id: 'far-away-client' });
        assert.equal(byClientId.json.disconnected, 1);
        await mqClosed;
        const nobody = await post(a, '/api/disconnect', { client_id: 'nobody-anywhere' });
        assert.equal(nobody.json.disconnected, 0);
      } finally {
        native.close();
        await endAll(mq);
      }
    });

    test('a node killed with SIGKILL does not hang the answer: at most the timeout, then left out once it expired', async () => {
      const victim = await spawnNode(kind, engineServer.url);
      try {
        const doomed = await connectTo(victim.wsUrl);
        await doomed.subscribe('list:victim', () => {});
        await eventually(
          async () => (await get(a, '/api/channels?prefix=list:victim')).json.channels.length === 1,
          'A lists the victim channel',
        );
        await victim.process.kill();
        const started = Date.now();
        const during = await get(a, '/api/channels?prefix=list:victim');
        const took = Date.now() - started;
        assert.equal(during.status, 200);
        assert.deepEqual(during.json.channels, []);
        assert.equal(during.json.unanswered, 1, 'the dead node is said to be missing');
        assert.ok(took >= 900 && took < 2500, `answered after ${took} ms (timeout 1000 ms)`);
        await eventually(
          () => ![...a.cluster.presence.peers()].some((p) => p !== b.cluster.nodeId),
          'the dead node expired',
          5000,
        );
        const startedAfter = Date.now();
        const expired = await get(a, '/api/channels?prefix=list:victim');
        assert.equal(expired.json.unanswered, undefined);
        assert.ok(Date.now() - startedAfter < 500, 'no wait once it expired');
      } finally {
        await victim.process.kill();
      }
    });
  });
}
