import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { freePort, sleep } from './helpers.js';
import { type Node, type NodeProcess, spawnNodeProcess, startNode } from './cluster-nodes.js';
import { HoldingProxy } from './holding-proxy.js';
import {
  type TestClient,
  endAll,
  eventually,
  mqttClient,
  mqttClientWithConnack,
  uniqueId,
  within,
} from './mqtt-helpers.js';
import type { EngineServer } from './cluster-engine-contract.js';
import { CONTROL_CHANNEL } from '../src/cluster/control-bus.js';
import { encodeControl } from '../src/cluster/envelope.js';
import { NatsEngine } from '../src/cluster/nats-engine.js';
import { RedisEngine } from '../src/cluster/redis-engine.js';

interface DisposableServer extends EngineServer {
  dispose(): Promise<void>;
}

const PERSISTENT = { clean: false, properties: { sessionExpiryInterval: 300 } } as const;
const holdsSession = (node: Node, clientId: string) => node.server.mqtt?.sessions.has(clientId) === true;
const claimsOf = (node: Node) => node.server.mqttCluster?.takeover.stats.claims ?? 0;
/** After a race: `client` stays connected, and the one session of `clientId` is on `holder`, with `topic`. */
async function assertOneSession(
  nodes: Node[],
  holder: Node,
  clientId: string,
  client: TestClient,
  topic: string,
) {
  await sleep(300);
  assert.equal(client.connected, true, 'the later client stays');
  assert.deepEqual(
    nodes.map((n) => holdsSession(n, clientId)),
    nodes.map((n) => n === holder),
    'one session in the cluster, on the later claim’s node',
  );
  assert.equal(holder.server.mqtt?.sessions.get(clientId)?.subscriptions.has(topic), true, 'the one A had');
}

/** Client clocks of a node process, this far ahead of the machine's (its Date.now). */
const clockAhead = (ms: number) => ({
  NODE_OPTIONS: `--import "data:text/javascript,const now=Date.now;Date.now=()=>now()+${ms};"`,
});

/**
 * Two CONNECTs of one client id on two nodes at once, with the order in which the nodes hear
 * each other set by a proxy holding a node's engine traffic (docs/CLUSTER.md, "MQTT across
 * nodes"): the orders the cluster suite's "two CONNECTs" test only meets by chance.
 */
export function clusterTakeoverSuite(
  kind: 'nats' | 'redis',
  startEngine: () => Promise<DisposableServer>,
): void {
  const engineWriter = async (url: string) => {
    const options = { urls: [url], prefix: 'pulse', nodeName: 'writer' };
    const writer = kind === 'nats' ? new NatsEngine(options) : new RedisEngine(options);
    await writer.start({ message: () => {}, state: () => {} }, true);
    let seq = 0;
    return {
      send: (origin: string, m: { y: string } & Record<string, unknown>) =>
        assert.equal(writer.publish(CONTROL_CHANNEL, encodeControl(origin, ++seq, m, undefined)), true),
      close: () => writer.close(),
    };
  };

  describe(`cluster over ${kind}-server: MQTT takeover races in a set order`, () => {
    let engineServer: DisposableServer;
    let toB: HoldingProxy;
    let toC: HoldingProxy;
    let a: Node;
    let b: Node;
    let c: Node;

    before(async () => {
      engineServer = await startEngine();
      const viaB = await HoldingProxy.start(engineServer.url);
      const viaC = await HoldingProxy.start(engineServer.url);
      toB = viaB.proxy;
      toC = viaC.proxy;
      const cluster = (url: string) => ({ engine: kind, url, presence_ttl_ms: 30_000 });
      [a, b, c] = await Promise.all([
        startNode(cluster(engineServer.url)),
        startNode(cluster(viaB.url)),
        startNode(cluster(viaC.url)),
      ]);
      await eventually(
        () => [a, b, c].every((n) => [...n.cluster.presence.peers()].length === 2),
        'the nodes know each other',
      );
    });
    after(async () => {
      await Promise.all([a?.stop(), b?.stop(), c?.stop()]);
      await Promise.all([toB?.close(), toC?.close()]);
      await engineServer?.dispose();
    });

    test("a newer claim that B reads together with the session's last part waits until B's CONNECT has its session: it moves on whole, one client stays", async () => {
      const clientId = uniqueId('together');
      const old = await mqttClient(a.tcpUrl, { protocolVersion: 5, clientId, ...PERSISTENT });
      await old.subscribeAsync('together/t', { qos: 1 });
      // B hears nothing for a while: A's hand-over, C's answer and C's own claim wait for it.
      toB.hold('toClient');
      const first = mqttClientWithConnack(b.tcpUrl, { protocolVersion: 5, clientId, ...PERSISTENT });
      await eventually(() => !holdsSession(a, clientId), 'A handed the session to B');
      const claimsOnC = claimsOf(c);
      const heldBefore = toB.heldBytes('toClient');
      const second = mqttClientWithConnack(c.tcpUrl, { protocolVersion: 5, clientId, ...PERSISTENT });
      await eventually(() => claimsOf(c) > claimsOnC, 'C claimed the id');
      await eventually(() => toB.heldBytes('toClient') > heldBefore, 'C’s claim waits for B');
      await sleep(50);
      // In one read: A's session (B's claim is done), then C's claim, before B's CONNACK is out.
      toB.release('toClient');
      const [onB, onC] = await Promise.all([first, second]);
      try {
        assert.equal(onB.connack.sessionPresent, true, 'B had the session from A');
        assert.equal((await within(onB.client.gone, 3000, 'B’s client taken over'))?.reasonCode, 0x8e);
        assert.equal(onC.connack.sessionPresent, true, 'C has it from B');
        await assertOneSession([a, b, c], c, clientId, onC.client, 'together/t');
      } finally {
        await endAll(old, onB.client, onC.client);
      }
    });

    test("an older claim that reaches B after B's claim is done is told there is nothing: B keeps the session, not handed back and forth and lost", async () => {
      const clientId = uniqueId('older');
      const old = await mqttClient(a.tcpUrl, { protocolVersion: 5, clientId, ...PERSISTENT });
      await old.subscribeAsync('older/t', { qos: 1 });
      // C's claim is made first, and stays on its way while B claims and is done.
      toC.hold('toServer');
      const claimsOnC = claimsOf(c);
      const second = mqttClientWithConnack(c.tcpUrl, { protocolVersion: 5, clientId, ...PERSISTENT });
      await eventually(() => claimsOf(c) > claimsOnC, 'C claimed the id');
      await sleep(5); // B's claim is the later one, by the clock too
      const onB = await mqttClientWithConnack(b.tcpUrl, { protocolVersion: 5, clientId, ...PERSISTENT });
      assert.equal(onB.connack.sessionPresent, true, 'B has the session from A');
      toC.release('toServer');
      const onC = await second;
      try {
        // C's client is the earlier one: CONNACK, then taken over by B's claim that C held back.
        assert.equal((await within(onC.client.gone, 3000, 'C’s client taken over'))?.reasonCode, 0x8e);
        await assertOneSession([a, b, c], b, clientId, onB.client, 'older/t');
      } finally {
        await endAll(old, onB.client, onC.client);
      }
    });

    test('a claim waits for a node it did not know of (not yet in presence) once that node’s older claim reaches it: the session that node then hands over arrives whole', async () => {
      const clientId = uniqueId('unknown');
      const old = await mqttClient(a.tcpUrl, { protocolVersion: 5, clientId, ...PERSISTENT });
      await old.subscribeAsync('unknown/t', { qos: 1 });
      // B hears nothing while a new node, L, joins and takes the session from A.
      toB.hold('toClient');
      const viaL = await HoldingProxy.start(engineServer.url);
      const l = await startNode({ engine: kind, url: viaL.url, presence_ttl_ms: 30_000 });
      try {
        await eventually(
          () => a.cluster.presence.isPeer(l.cluster.nodeId) && l.cluster.presence.isPeer(a.cluster.nodeId),
          'A and L know each other',
        );
        const onL = await mqttClientWithConnack(l.tcpUrl, { protocolVersion: 5, clientId, ...PERSISTENT });
        assert.equal(onL.connack.sessionPresent, true, 'L has the session from A');
        // B claims (asking A only: it has not heard of L); L hands over, and that waits on its way.
        viaL.proxy.hold('toServer');
        const heldBefore = toB.heldBytes('toClient');
        const onB = mqttClientWithConnack(b.tcpUrl, { protocolVersion: 5, clientId, ...PERSISTENT });
        await within(onL.client.gone, 3000, 'L’s client taken over');
        await eventually(() => toB.heldBytes('toClient') > heldBefore, 'A’s answer waits for B');
        await sleep(50);
        // B reads L's join, L's older claim, then A's "nothing here": B must wait for L.
        toB.release('toClient');
        await sleep(100);
        viaL.proxy.release('toServer');
        const fresh = await onB;
        try {
          assert.equal(fresh.connack.sessionPresent, true, 'B has the session L handed over');
          await assertOneSession([a, b, c, l], b, clientId, fresh.client, 'unknown/t');
        } finally {
          await endAll(fresh.client, onL.client);
        }
      } finally {
        await endAll(old);
        await l.stop();
        await viaL.proxy.close();
        await eventually(() => !b.cluster.presence.isPeer(l.cluster.nodeId), 'L is gone from B');
      }
    });

    test('many CONNECTs of one client id on three nodes at once end with one client and one session, which has the subscription', async () => {
      for (let round = 0; round < 5; round++) {
        const clientId = uniqueId('many');
        const old = await mqttClient(a.tcpUrl, { protocolVersion: 5, clientId, ...PERSISTENT });
        await old.subscribeAsync('many/t', { qos: 1 });
        const nodes = [a, b, c, a, b, c, b, c];
        const clients = await Promise.all(
          nodes.map((n) => mqttClientWithConnack(n.tcpUrl, { protocolVersion: 5, clientId, ...PERSISTENT })),
        );
        try {
          await old.gone;
          await eventually(
            () => clients.filter((x) => x.client.connected).length === 1,
            `round ${round}: one of the ${clients.length} connections remains`,
          );
          await sleep(300);
          assert.equal(clients.filter((x) => x.client.connected).length, 1, `round ${round}`);
          const holders = [a, b, c].filter((n) => holdsSession(n, clientId));
          assert.equal(holders.length, 1, `round ${round}: one session in the cluster`);
          assert.equal(
            holders[0]?.server.mqtt?.sessions.get(clientId)?.subscriptions.has('many/t'),
            true,
            `round ${round}: the session is the one A had`,
          );
        } finally {
          await endAll(old, ...clients.map((x) => x.client));
        }
      }
    });
  });

  describe(`cluster over ${kind}-server: MQTT takeover with a node's clock 30 s ahead`, () => {
    let engineServer: DisposableServer;
    let b: Node;
    let ahead: NodeProcess;
    let aheadMqtt: number;
    let writer: Awaited<ReturnType<typeof engineWriter>>;

    before(async () => {
      engineServer = await startEngine();
      b = await startNode({ engine: kind, url: engineServer.url, presence_ttl_ms: 30_000 });
      aheadMqtt = await freePort();
      ahead = await spawnNodeProcess(kind, engineServer.url, 30_000, aheadMqtt, [], clockAhead(30_000));
      await ahead.process.ready;
      await eventually(() => [...b.cluster.presence.peers()].length === 1, 'B knows the node ahead');
      writer = await engineWriter(engineServer.url);
    });
    after(async () => {
      await writer?.close();
      await ahead?.process.kill();
      await b?.stop();
      await engineServer?.dispose();
    });

    test('a node that answered a claim stamped 30 s ahead, then claims the id itself, wins: one client and one session', async () => {
      // A node that never answers (it stays in presence): every claim waits its 1.5 s for it.
      writer.send('silent-node', { y: 'a' });
      await eventually(() => [...b.cluster.presence.peers()].length === 2, 'B knows the silent node');
      await sleep(200); // and the node ahead knows it too
      const clientId = uniqueId('skew');
      // The node ahead claims first (stamped 30 s ahead of B) and waits for the silent node; B
      // answers "nothing here" at once.
      const first = mqttClientWithConnack(`mqtt://127.0.0.1:${aheadMqtt}`, {
        protocolVersion: 5,
        clientId,
        ...PERSISTENT,
      });
      await sleep(300);
      // B claims after answering: its claim is the later one, though its clock says otherwise.
      const second = mqttClientWithConnack(b.tcpUrl, { protocolVersion: 5, clientId, ...PERSISTENT });
      const [onAhead, onB] = await Promise.all([first, second]);
      try {
        assert.equal(
          (await within(onAhead.client.gone, 4000, 'the node ahead hands over to B'))?.reasonCode,
          0x8e,
        );
        await sleep(300);
        assert.equal(onB.client.connected, true);
        assert.equal(holdsSession(b, clientId), true);
      } finally {
        await endAll(onAhead.client, onB.client);
        writer.send('silent-node', { y: 'b' });
      }
    });

    test('a claim stamped at Number.MAX_SAFE_INTEGER from a writer on the engine server does not stop takeovers: the next stamps stay numbers the nodes take', async () => {
      writer.send('far-future', {
        y: 'mt',
        k: 'forged',
        c: uniqueId('forged'),
        s: false,
        t: Number.MAX_SAFE_INTEGER,
      });
      const clientId = uniqueId('after-forged');
      const rejected = b.cluster.stats.rejected;
      const old = await mqttClient(b.tcpUrl, { protocolVersion: 5, clientId, ...PERSISTENT });
      await old.subscribeAsync('forged/t', { qos: 1 });
      const started = Date.now();
      const moved = await mqttClientWithConnack(`mqtt://127.0.0.1:${aheadMqtt}`, {
        protocolVersion: 5,
        clientId,
        ...PERSISTENT,
      });
      try {
        assert.equal(moved.connack.sessionPresent, true, 'the session moved from B');
        assert.ok(Date.now() - started < 1000, 'without waiting out the claim');
        assert.equal(b.cluster.stats.rejected, rejected, 'B refused no claim');
      } finally {
        await endAll(old, moved.client);
      }
    });
  });

  describe(`cluster over ${kind}-server: MQTT takeover through a node that has just joined`, () => {
    let engineServer: DisposableServer;
    let a: Node;
    let writer: Awaited<ReturnType<typeof engineWriter>>;
    // No "alive" from the nodes for the whole test: what a new node hears of them is their lists.
    const cluster = () => ({ engine: kind, url: engineServer.url, presence_ttl_ms: 600_000 });

    before(async () => {
      engineServer = await startEngine();
      a = await startNode(cluster());
      writer = await engineWriter(engineServer.url);
    });
    after(async () => {
      await writer?.close();
      await a?.stop();
      await engineServer?.dispose();
    });

    test('a CONNECT on a node that has heard of no other node yet waits: the session held elsewhere comes over, not handed to a claim no one waits for and lost', async () => {
      const clientId = uniqueId('joined');
      const old = await mqttClient(a.tcpUrl, { protocolVersion: 5, clientId, ...PERSISTENT });
      await old.subscribeAsync('joined/t', { qos: 1 });
      // A node says hello: A sends its list, and then no other for a second (LIST_MIN_INTERVAL_MS).
      const lists = a.cluster.presence.listsSentAt.length;
      writer.send('hello-node', { y: 'h' });
      await eventually(() => a.cluster.presence.listsSentAt.length > lists, 'A answered the hello');
      const l = await startNode(cluster());
      try {
        assert.deepEqual([...l.cluster.presence.peers()], [], 'L has heard of no node yet');
        const started = Date.now();
        const onL = await mqttClientWithConnack(l.tcpUrl, { protocolVersion: 5, clientId, ...PERSISTENT });
        assert.equal(onL.connack.sessionPresent, true, 'the session came from A');
        assert.ok(Date.now() - started < 1000, 'as soon as it came');
        assert.equal((await within(old.gone, 3000, 'A’s client taken over'))?.reasonCode, 0x8e);
        await assertOneSession([a, l], l, clientId, onL.client, 'joined/t');
        await endAll(onL.client);
      } finally {
        writer.send('hello-node', { y: 'b' });
        await endAll(old);
        await l.stop();
      }
    });
  });
}
