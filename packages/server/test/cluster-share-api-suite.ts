import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Publication, PulseClient } from '@pulse/client';
import WebSocket from 'ws';
import type { DisposableServer } from './cluster-suite.js';
import { type Node, settled, startNode } from './cluster-nodes.js';
import { Inbox, freePort, sleep, tcpClient, wsClient } from './helpers.js';
import { JsonWs } from './json-ws.js';
import { endAll, eventually, mqttClient } from './mqtt-helpers.js';
import { type PulseProcess, spawnPulse } from './pulse-process.js';

const KEY = 'cluster-share-api-key-0123456789';
const TTL = 1500;
const text = (p: Publication) => Buffer.from(p.payload).toString('utf8');

/** A pulse process joined through the engine, killed by the test. */
async function spawnNode(kind: string, url: string): Promise<{ process: PulseProcess; wsUrl: string }> {
  const port = await freePort();
  const process = spawnPulse([
    '--port',
    String(port),
    '--tcp-port',
    '0',
    '--metrics-port',
    '0',
    '--mqtt-port',
    '0',
    '--cluster-presence-ttl-ms',
    String(TTL),
    '--cluster-engine',
    kind,
    '--cluster-url',
    url,
  ]);
  await process.ready;
  return { process, wsUrl: `ws://127.0.0.1:${port}/ws` };
}

const connectTo = (wsUrl: string) => PulseClient.connect(wsUrl, { WebSocket: WebSocket as never });

/** `$share` groups, the HTTP API and subscribe acks across nodes, for one engine. */
export function clusterShareApiSuite(kind: 'nats' | 'redis', startEngine: () => Promise<DisposableServer>): void {
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
        const members = { a: new Inbox<Publication>(), b: new Inbox<string>() };
        const all = new Inbox<Publication>();
        await onA1.subscribe(group, members.a.push);
        await onA2.subscribe(group, members.a.push);
        await onB.subscribeAsync(group, { qos: 1 });
        await jsonB.ok('subscribe', { channel: group });
        await plain.subscribe('jobs/+', all.push);
        onB.on('message', (_topic, payload) => members.b.push(payload.toString()));
        await settled(a, b, c);
        await eventually(
          () =>
            c.cluster.shareGroups.nodesHolding(group) === 2 && a.cluster.shareGroups.nodesHolding(group) === 1,
          'C knows the group on A and B, A knows B',
        );

        const N = 60;
        for (let i = 0; i < N; i++) await pubC.publish('jobs/x', `c${i}`);
        for (let i = 0; i < N; i++) await pubA.publishAsync('jobs/y', `a${i}`, { qos: 1 });
        const groupTotal = () =>
          members.a.items.length + members.b.items.length + jsonB.publications('jobs/x').length +
          jsonB.publications('jobs/y').length;
        await eventually(() => groupTotal() >= 2 * N, `the group got ${2 * N}`, 10_000);
        await all.waitFor(2 * N, 10_000);
        await sleep(300);
        const got = [
          ...members.a.items.map(text),
          ...members.b.items,
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
        await eventually(() => c.cluster.shareGroups.nodesHolding(group) === 1, 'C forgot the stopped node', 3000);
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
}
