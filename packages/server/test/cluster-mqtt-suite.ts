import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type {
  IConnackPacket,
  IPublishPacket,
  IPubcompPacket,
  IPubrecPacket,
  IPubrelPacket,
} from 'mqtt-packet';
import { freePort, sleep, startServer } from './helpers.js';
import { type Node, settled, spawnNodeProcess, startNode } from './cluster-nodes.js';
import {
  RawMqtt,
  endAll,
  eventually,
  metric,
  mqttClient,
  mqttClientWithConnack,
  run,
  uniqueId,
} from './mqtt-helpers.js';
import type { EngineServer } from './cluster-engine-contract.js';
import { CONTROL_CHANNEL } from '../src/cluster/control-bus.js';
import { encodeControl } from '../src/cluster/envelope.js';
import { NatsEngine } from '../src/cluster/nats-engine.js';
import { RedisEngine } from '../src/cluster/redis-engine.js';

interface DisposableServer extends EngineServer {
  dispose(): Promise<void>;
}

const PUB = '/usr/bin/mosquitto_pub';
const SUB = '/usr/bin/mosquitto_sub';
const MAX_RETAINED = 3000;
const MQTT = { sys_interval_ms: 200, max_retained_messages: MAX_RETAINED };
const PERSISTENT = { clean: false, properties: { sessionExpiryInterval: 300 } } as const;

const hasSession = (node: Node, clientId: string) => node.server.mqtt?.sessions.has(clientId) === true;
const retainedOn = (node: Node, topic: string) => node.server.mqtt?.retained.get(topic);

/** MQTT across nodes (docs/CLUSTER.md, "MQTT across nodes"), for one engine. */
export function clusterMqttSuite(kind: 'nats' | 'redis', startEngine: () => Promise<DisposableServer>): void {
  describe(`cluster over ${kind}-server: MQTT across nodes`, () => {
    let engineServer: DisposableServer;
    let a: Node;
    let b: Node;
    let c: Node;
    const cluster = () => ({ engine: kind, url: engineServer.url, presence_ttl_ms: 30_000 });

    before(async () => {
      engineServer = await startEngine();
      [a, b, c] = await Promise.all([
        startNode(cluster(), { mqtt: MQTT }),
        startNode(cluster(), { mqtt: MQTT }),
        startNode(cluster(), { mqtt: MQTT }),
      ]);
      // Every node has heard of the others (a claim waits for the nodes it knows).
      await eventually(
        () => [a, b, c].every((n) => [...n.cluster.presence.peers()].length === 2),
        'the nodes know each other',
      );
    });
    after(async () => {
      await Promise.all([a?.stop(), b?.stop(), c?.stop()]);
      await engineServer?.dispose();
    });

    test('a message retained through A (mosquitto_pub) is replayed to a subscriber on B (mosquitto_sub) and on C; its clearing through B crosses too', async () => {
      const topic = `ret/${uniqueId()}`;
      const pub = await run(PUB, [
        '-h',
        '127.0.0.1',
        '-p',
        String(a.mqttPort),
        '-t',
        topic,
        '-m',
        'kept',
        '-r',
        '-q',
        '1',
      ]).done;
      assert.equal(pub.code, 0, pub.stderr);
      await eventually(
        () => retainedOn(b, topic) !== undefined && retainedOn(c, topic) !== undefined,
        'B and C keep it',
      );
      const sub = await run(SUB, [
        '-h',
        '127.0.0.1',
        '-p',
        String(b.mqttPort),
        '-t',
        topic,
        '-C',
        '1',
        '-W',
        '5',
        '-v',
      ]).done;
      assert.equal(sub.stdout.trim(), `${topic} kept`);
      const onC = await mqttClient(c.tcpUrl, { protocolVersion: 5 });
      try {
        await onC.subscribeAsync(topic, { qos: 1 });
        const [got] = await onC.inbox.waitFor(1);
        assert.equal(got?.payload.toString(), 'kept');
        assert.equal(got?.packet.retain, true, 'replayed as retained');
        assert.equal(b.server.store.engine, 'memory');

        // An empty retained publication on B clears it on every node.
        const clearer = await mqttClient(b.tcpUrl, { protocolVersion: 4 });
        await clearer.publishAsync(topic, Buffer.alloc(0), { qos: 1, retain: true });
        await endAll(clearer);
        await eventually(
          () => [a, b, c].every((n) => retainedOn(n, topic) === undefined),
          'cleared on A, B and C',
        );
        const late = await mqttClient(a.tcpUrl, { protocolVersion: 5 });
        await late.subscribeAsync(topic, { qos: 1 });
        await sleep(200);
        assert.equal(late.inbox.items.length, 0, 'nothing retained any more');
        await endAll(late);
      } finally {
        await endAll(onC);
      }
    });

    test('the latest write wins on every node when two nodes retain on one topic at once', async () => {
      const topic = `ret/race/${uniqueId()}`;
      const onA = await mqttClient(a.tcpUrl, { protocolVersion: 5 });
      const onB = await mqttClient(b.tcpUrl, { protocolVersion: 5 });
      try {
        await Promise.all([
          onA.publishAsync(topic, 'from a', { qos: 1, retain: true }),
          onB.publishAsync(topic, 'from b', { qos: 1, retain: true }),
        ]);
        await eventually(() => {
          const values = [a, b, c].map((n) => retainedOn(n, topic)?.payload.toString());
          return values[0] !== undefined && values.every((v) => v === values[0]);
        }, 'A, B and C agree');
      } finally {
        await endAll(onA, onB);
      }
    });

    test('a node started later gets the retained set (in parts: 1200 messages)', async () => {
      const prefix = `bulk/${uniqueId()}`;
      const pub = await mqttClient(a.tcpUrl, { protocolVersion: 5 });
      const N = 1200;
      for (let i = 0; i < N; i++) pub.publish(`${prefix}/${i}`, `v${i}`, { qos: 0, retain: true });
      await pub.publishAsync(`${prefix}/last`, 'last', { qos: 1, retain: true });
      await endAll(pub);
      await eventually(() => retainedOn(b, `${prefix}/last`) !== undefined, 'B has them');
      const late = await startNode(cluster());
      try {
        await eventually(
          () =>
            retainedOn(late, `${prefix}/last`) !== undefined &&
            retainedOn(late, `${prefix}/${N - 1}`) !== undefined,
          'the late node learnt the set',
          10_000,
        );
        const sub = await mqttClient(late.tcpUrl, { protocolVersion: 5 });
        await sub.subscribeAsync(`${prefix}/#`, { qos: 0 });
        const got = await sub.inbox.waitFor(N + 1, 10_000);
        assert.deepEqual(
          new Set(got.map((m) => m.topic)).size,
          N + 1,
          'each retained message once, through a node that never saw them published',
        );
        assert.equal(got.find((m) => m.topic === `${prefix}/7`)?.payload.toString(), 'v7');
        await endAll(sub);
      } finally {
        await late.stop();
      }
    });

    test('a will published on A reaches a subscriber on B; $SYS topics stay on their node', async () => {
      const watcher = await mqttClient(b.tcpUrl, { protocolVersion: 5 });
      const sys = await mqttClient(b.tcpUrl, { protocolVersion: 5 });
      try {
        await watcher.subscribeAsync('wills/#', { qos: 1 });
        await sys.subscribeAsync('$SYS/broker/clients/total', { qos: 0 });
        await settled(b);
        const doomed = await mqttClient(a.tcpUrl, {
          protocolVersion: 5,
          will: { topic: 'wills/a', payload: Buffer.from('gone'), qos: 1, retain: false },
        });
        (doomed as unknown as { stream: { destroy(): void } }).stream.destroy();
        const [will] = await watcher.inbox.waitFor(1);
        assert.equal(will?.topic, 'wills/a');
        assert.equal(will?.payload.toString(), 'gone');

        // $SYS: B's subscriber hears B only, though A and C publish theirs every 200 ms.
        const received = b.cluster.stats.received;
        sys.inbox.items.splice(0);
        await sleep(700);
        assert.ok(sys.inbox.items.length >= 2, 'B publishes its own');
        assert.equal(b.cluster.stats.received, received, 'nothing of A or C crossed');
        assert.ok(
          sys.inbox.items.every((m) => m.payload.toString() === String(b.server.mqtt?.sessions.size)),
          'the values are B’s',
        );
      } finally {
        await endAll(watcher, sys);
      }
    });

    test('takeover across nodes: the old client gets DISCONNECT 0x8E, its will is dropped, and subscriptions, queued and unacknowledged QoS 1 messages arrive on B in order', async () => {
      const handedBefore = await metric(a, 'pulse_cluster_mqtt_sessions_handed_over_total');
      const receivedBefore = await metric(b, 'pulse_cluster_mqtt_sessions_received_total');
      const clientId = uniqueId('move');
      const watcher = await mqttClient(c.tcpUrl, { protocolVersion: 5 });
      await watcher.subscribeAsync('moved/will', { qos: 1 });
      // Two messages in flight (receive maximum 2, never acknowledged), the rest queued.
      const { raw: old } = await RawMqtt.connect(a.mqttPort, 5, {
        clientId,
        clean: false,
        properties: { sessionExpiryInterval: 300, receiveMaximum: 2 },
        will: { topic: 'moved/will', payload: Buffer.from('should not'), qos: 1, retain: false },
      });
      old.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'moved/q', qos: 1 }] });
      await old.next('suback');
      await settled(a);
      const pub = await mqttClient(c.tcpUrl, { protocolVersion: 5 });
      try {
        for (let i = 0; i < 5; i++) await pub.publishAsync('moved/q', `m${i}`, { qos: 1 });
        await old.next('publish');
        await old.next('publish');
        await eventually(
          () => a.server.mqtt?.sessions.get(clientId)?.queue.length === 3,
          'three queued on A',
        );

        const { client: fresh, connack } = await mqttClientWithConnack(b.tcpUrl, {
          protocolVersion: 5,
          clientId,
          ...PERSISTENT,
        });
        assert.equal(connack.sessionPresent, true, 'the session came from A');
        const disconnect = await old.next('disconnect');
        assert.equal((disconnect as { reasonCode?: number }).reasonCode, 0x8e);
        await old.expectClosed();
        const got = await fresh.inbox.waitFor(5);
        assert.deepEqual(
          got.map((m) => m.payload.toString()),
          ['m0', 'm1', 'm2', 'm3', 'm4'],
        );
        assert.deepEqual(
          got.map((m) => m.packet.dup),
          [true, true, false, false, false],
          'the two in flight are sent again with DUP',
        );
        assert.equal(hasSession(a, clientId), false, 'A no longer holds it');
        assert.equal((await metric(a, 'pulse_cluster_mqtt_sessions_handed_over_total')) - handedBefore, 1);
        assert.equal((await metric(b, 'pulse_cluster_mqtt_sessions_received_total')) - receivedBefore, 1);
        // The subscription moved: a publication through A now reaches B's client.
        await settled(b);
        const onA = await mqttClient(a.tcpUrl, { protocolVersion: 5 });
        await onA.publishAsync('moved/q', 'after', { qos: 1 });
        assert.equal((await fresh.inbox.waitFor(6))[5]?.payload.toString(), 'after');
        await sleep(300);
        assert.equal(fresh.inbox.items.length, 6, 'nothing twice');
        assert.equal(watcher.inbox.items.length, 0, 'a continuing session’s will is dropped on takeover');
        await endAll(onA, fresh);
      } finally {
        old.destroy();
        await endAll(pub, watcher);
      }
    });

    test('a QoS 2 flow interrupted by a takeover completes exactly once on B, in both directions', async () => {
      const clientId = uniqueId('q2');
      const sub = await mqttClient(c.tcpUrl, { protocolVersion: 5 });
      await sub.subscribeAsync('q2/in', { qos: 2 });
      await settled(c);
      const { raw: old } = await RawMqtt.connect(a.mqttPort, 5, {
        clientId,
        clean: false,
        properties: { sessionExpiryInterval: 300 },
      });
      old.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'q2/out', qos: 2 }] });
      await old.next('suback');
      await settled(a);
      // In: a QoS 2 PUBLISH routed (PUBREC), its PUBREL not sent before the takeover.
      const publish: IPublishPacket = {
        cmd: 'publish',
        topic: 'q2/in',
        payload: Buffer.from('once'),
        qos: 2,
        retain: false,
        dup: false,
        messageId: 7,
      };
      old.send(publish);
      assert.equal(((await old.next('pubrec')) as IPubrecPacket).messageId, 7);
      // Out: two QoS 2 messages to the client; the first acknowledged with PUBREC, the second not.
      const pub = await mqttClient(b.tcpUrl, { protocolVersion: 5 });
      await pub.publishAsync('q2/out', 'first', { qos: 2 });
      await pub.publishAsync('q2/out', 'second', { qos: 2 });
      const first = (await old.next('publish')) as IPublishPacket;
      const second = (await old.next('publish')) as IPublishPacket;
      old.send({ cmd: 'pubrec', messageId: first.messageId });
      assert.equal(((await old.next('pubrel')) as IPubrelPacket).messageId, first.messageId);

      const { raw: fresh, connack } = await RawMqtt.connect(b.mqttPort, 5, {
        clientId,
        clean: false,
        properties: { sessionExpiryInterval: 300 },
      });
      try {
        assert.equal((connack as IConnackPacket).sessionPresent, true);
        await old.expectDisconnect(0x8e);
        // Out: B releases the first again, and sends the second again with DUP.
        const resent = [await fresh.next(), await fresh.next()];
        const rel = resent.find((p) => p.cmd === 'pubrel') as IPubrelPacket | undefined;
        const again = resent.find((p) => p.cmd === 'publish') as IPublishPacket | undefined;
        assert.equal(rel?.messageId, first.messageId);
        assert.equal(again?.messageId, second.messageId);
        assert.equal(again?.dup, true);
        assert.equal(again?.payload.toString(), 'second');
        fresh.send({ cmd: 'pubcomp', messageId: first.messageId });
        fresh.send({ cmd: 'pubrec', messageId: second.messageId });
        assert.equal(((await fresh.next('pubrel')) as IPubrelPacket).messageId, second.messageId);
        fresh.send({ cmd: 'pubcomp', messageId: second.messageId });

        // In: the PUBLISH again (DUP) is acknowledged, not routed again; PUBREL completes on B.
        fresh.send({ ...publish, dup: true });
        assert.equal(((await fresh.next('pubrec')) as IPubrecPacket).messageId, 7);
        fresh.send({ cmd: 'pubrel', messageId: 7 });
        const comp = (await fresh.next('pubcomp')) as IPubcompPacket;
        assert.equal(comp.messageId, 7);
        assert.equal(comp.reasonCode ?? 0, 0, 'B knew packet id 7 (not 0x92)');
        await sleep(300);
        assert.deepEqual(
          sub.inbox.items.map((m) => m.payload.toString()),
          ['once'],
          'routed exactly once',
        );
        await fresh.nothingFor(200, 'publish');
      } finally {
        old.destroy();
        fresh.destroy();
        await endAll(sub, pub);
      }
    });

    test('clean start on B ends the session held on A, cluster-wide; its will goes out', async () => {
      const clientId = uniqueId('clean');
      const watcher = await mqttClient(c.tcpUrl, { protocolVersion: 5 });
      await watcher.subscribeAsync('clean/will', { qos: 1 });
      await settled(c);
      const old = await mqttClient(a.tcpUrl, {
        protocolVersion: 4,
        clientId,
        clean: false,
        will: { topic: 'clean/will', payload: Buffer.from('ended'), qos: 1, retain: false },
      });
      await old.subscribeAsync('clean/topic', { qos: 1 });
      const { client: fresh, connack } = await mqttClientWithConnack(b.tcpUrl, {
        protocolVersion: 5,
        clientId,
        clean: true,
      });
      try {
        assert.equal(connack.sessionPresent, false);
        assert.equal(await old.gone, undefined, '3.1.1: closed without DISCONNECT');
        assert.equal((await watcher.inbox.waitFor(1))[0]?.payload.toString(), 'ended');
        assert.equal(hasSession(a, clientId), false);
        assert.equal(b.server.mqtt?.sessions.get(clientId)?.subscriptions.size, 0, 'nothing came over');
      } finally {
        await endAll(old, fresh, watcher);
      }
    });

    test('a persistent session left on A (its client gone) is resumed on B', async () => {
      const clientId = uniqueId('away');
      const old = await mqttClient(a.tcpUrl, { protocolVersion: 5, clientId, ...PERSISTENT });
      await old.subscribeAsync('away/t', { qos: 1 });
      await old.endAsync();
      await settled(a);
      const pub = await mqttClient(c.tcpUrl, { protocolVersion: 5 });
      await pub.publishAsync('away/t', 'while away', { qos: 1 });
      await eventually(() => a.server.mqtt?.sessions.get(clientId)?.queue.length === 1, 'queued on A');
      const { client: back, connack } = await mqttClientWithConnack(b.tcpUrl, {
        protocolVersion: 5,
        clientId,
        ...PERSISTENT,
      });
      try {
        assert.equal(connack.sessionPresent, true);
        assert.equal((await back.inbox.waitFor(1))[0]?.payload.toString(), 'while away');
        assert.equal(hasSession(a, clientId), false);
      } finally {
        await endAll(back, pub);
      }
    });

    test('two CONNECTs of one client id on two nodes at once end with one session', async () => {
      const clientId = uniqueId('twice');
      const old = await mqttClient(a.tcpUrl, { protocolVersion: 5, clientId, ...PERSISTENT });
      await old.subscribeAsync('twice/t', { qos: 1 });
      const [onB, onC] = await Promise.all([
        mqttClientWithConnack(b.tcpUrl, { protocolVersion: 5, clientId, ...PERSISTENT }),
        mqttClientWithConnack(c.tcpUrl, { protocolVersion: 5, clientId, ...PERSISTENT }),
      ]);
      try {
        await old.gone;
        await eventually(
          () => [onB, onC].filter((x) => x.client.connected).length === 1,
          'one of the two connections remains',
        );
        await sleep(300);
        const holders = [a, b, c].filter((n) => hasSession(n, clientId));
        assert.equal(holders.length, 1, 'one session in the cluster');
        const [survivor] = [onB, onC].filter((x) => x.client.connected);
        const holder = holders[0] as Node;
        assert.equal(holder.server.mqtt?.sessions.get(clientId)?.subscriptions.has('twice/t'), true);
        await settled(b, c);
        const pub = await mqttClient(a.tcpUrl, { protocolVersion: 5 });
        await pub.publishAsync('twice/t', 'to the one left', { qos: 1 });
        assert.equal((await survivor?.client.inbox.waitFor(1))?.[0]?.payload.toString(), 'to the one left');
        await endAll(pub);
      } finally {
        await endAll(old, onB.client, onC.client);
      }
    });

    test('a hostile writer on the engine server: malformed retained and takeover messages are dropped and counted; retained messages from peers are held to mqtt.max_retained_messages', async () => {
      const options = { urls: [engineServer.url], prefix: 'pulse', nodeName: 'hostile' };
      const hostile = kind === 'nats' ? new NatsEngine(options) : new RedisEngine(options);
      await hostile.start({ message: () => {}, state: () => {} }, true);
      let seq = 0;
      const send = (m: { y: string } & Record<string, unknown>) =>
        assert.equal(
          hostile.publish(CONTROL_CHANNEL, encodeControl('hostile-node', ++seq, m, undefined)),
          true,
        );
      const entry = (c: string, d: unknown = Buffer.from('x')) => ({
        c,
        d,
        t: Date.now() + 1000,
        o: 'hostile-node',
      });
      try {
        const rejected = b.cluster.stats.rejected;
        send({ y: 'mr', e: entry('$SYS/broker/uptime') });
        send({ y: 'mr', e: entry('wild/+') });
        send({ y: 'mr', e: entry('ok/topic', 'not bytes') });
        send({ y: 'mr', e: { ...entry('ok/topic'), t: -1 } });
        send({ y: 'mp', m: Array.from({ length: 501 }, (_, i) => entry(`too/many/${i}`)) });
        send({ y: 'mt', k: 5, c: 'id', s: false, t: 1 });
        send({ y: 'ms', k: 'unknown-claim', i: 0, f: true, h: { clientId: 'x', expiryInterval: 'forever' } });
        send({
          y: 'ms',
          k: 'unknown-claim',
          i: 0,
          f: true,
          h: { clientId: 'x', expiryInterval: 60 },
          l: [{ packetId: 0 }],
        });
        await eventually(() => b.cluster.stats.rejected - rejected === 8, 'B refused all eight');
        assert.equal(retainedOn(b, 'ok/topic'), undefined);
        assert.notEqual(
          retainedOn(b, '$SYS/broker/uptime')?.payload.toString(),
          'x',
          'B’s own $SYS untouched',
        );
        assert.equal(b.cluster.stats.state, 'connected', 'and serves on');

        // Well-formed but too many: seven parts of 500 new topics, past the 3000 kept.
        const stats = b.server.mqttCluster?.retained.stats;
        const handled = () => (stats?.applied ?? 0) + (stats?.refused ?? 0);
        const handledBefore = handled();
        const refusedBefore = stats?.refused ?? 0;
        for (let p = 0; p < 7; p++) {
          send({ y: 'mp', m: Array.from({ length: 500 }, (_, i) => entry(`flood/${p}/${i}`)) });
        }
        await eventually(() => handled() - handledBefore === 3500, 'B went through the 3500');
        assert.ok((b.server.mqtt?.retained.size ?? 0) <= MAX_RETAINED + 20, 'within the limit ($SYS aside)');
        assert.ok(
          (stats?.refused ?? 0) - refusedBefore >= 3500 - MAX_RETAINED,
          'the rest refused and counted',
        );
        assert.equal(retainedOn(b, 'flood/6/499'), undefined, 'the last ones did not fit');
      } finally {
        await hostile.close();
      }
    });

    test('asks for the retained set from a writer on the engine server, in a loop: at most one set a second goes out', async () => {
      const options = { urls: [engineServer.url], prefix: 'pulse', nodeName: 'hostile' };
      const hostile = kind === 'nats' ? new NatsEngine(options) : new RedisEngine(options);
      await hostile.start({ message: () => {}, state: () => {} }, true);
      const stats = b.server.mqttCluster?.retained.stats;
      assert.ok(stats);
      try {
        await sleep(1100); // past any set B sent before
        const before = stats.setsSent;
        const t0 = Date.now();
        for (let i = 0; Date.now() - t0 < 1500; i++) {
          hostile.publish(CONTROL_CHANNEL, encodeControl(`asker-${i % 8}`, i + 1, { y: 'mq' }, undefined));
          await sleep(30);
        }
        await sleep(200);
        const sent = stats.setsSent - before;
        assert.ok(sent >= 1 && sent <= 3, `${sent} sets for ~50 asks in 1.5 s`);
      } finally {
        await hostile.close();
      }
    });

    test('a node without MQTT answers claims: a CONNECT elsewhere does not wait for it', async () => {
      const bare = await startServer({ cluster: cluster(), mqtt: { websocket: false } });
      try {
        assert.equal(bare.server.mqtt, undefined);
        await eventually(() => [...b.cluster.presence.peers()].length === 3, 'B knows the bare node');
        const started = Date.now();
        const { client } = await mqttClientWithConnack(b.tcpUrl, {
          protocolVersion: 5,
          clientId: uniqueId('quick'),
        });
        const waited = Date.now() - started;
        assert.ok(waited < 1000, `CONNACK after ${waited} ms`);
        await endAll(client);
        assert.equal(
          bare.server.cluster?.stats.rejected,
          0,
          'the bare node refused none of the MQTT messages',
        );
      } finally {
        await bare.stop();
      }
    });

    test('mqtt.max_sessions counts per node: a full node refuses a client whose session is on A (0x97) and leaves that session on A', async () => {
      const full = await startNode(cluster(), { mqtt: { ...MQTT, max_sessions: 1 } });
      const clientId = uniqueId('elsewhere');
      const old = await mqttClient(a.tcpUrl, { protocolVersion: 5, clientId, ...PERSISTENT });
      await old.subscribeAsync('elsewhere/t', { qos: 1 });
      const local = await mqttClient(full.tcpUrl, { protocolVersion: 5, clientId: uniqueId('local') });
      try {
        await assert.rejects(
          mqttClientWithConnack(full.tcpUrl, { protocolVersion: 5, clientId, ...PERSISTENT }),
          (err: Error & { code?: number }) => err.code === 0x97,
        );
        await sleep(100);
        assert.equal(old.connected, true, 'the client on A was not taken over');
        assert.equal(hasSession(a, clientId), true);
        assert.equal(hasSession(full, clientId), false);
        assert.equal(await metric(full, 'pulse_mqtt_sessions_refused_total'), 1);
        // The other nodes have room: the session moves to B as usual.
        const { client: back, connack } = await mqttClientWithConnack(b.tcpUrl, {
          protocolVersion: 5,
          clientId,
          ...PERSISTENT,
        });
        assert.equal(connack.sessionPresent, true);
        await endAll(back);
      } finally {
        await endAll(old, local);
        await full.stop();
      }
    });

    test('a takeover while the holding node was killed with SIGKILL does not hang: a new session after the bounded wait', async () => {
      const mqttPort = await freePort();
      const { process: victim } = await spawnNodeProcess(kind, engineServer.url, 30_000, mqttPort);
      try {
        await victim.ready;
        const clientId = uniqueId('dead');
        const old = await mqttClient(`mqtt://127.0.0.1:${mqttPort}`, {
          protocolVersion: 5,
          clientId,
          ...PERSISTENT,
        });
        await old.subscribeAsync('dead/t', { qos: 1 });
        await eventually(() => [...b.cluster.presence.peers()].length === 3, 'B knows the victim');
        await victim.kill();
        const started = Date.now();
        const { client: fresh, connack } = await mqttClientWithConnack(b.tcpUrl, {
          protocolVersion: 5,
          clientId,
          ...PERSISTENT,
        });
        const waited = Date.now() - started;
        assert.equal(connack.sessionPresent, false, 'the session stays the dead node’s');
        assert.ok(waited >= 1000 && waited < 3000, `CONNACK after ${waited} ms (bounded wait 1500 ms)`);
        await endAll(fresh, old);
      } finally {
        await victim.kill();
      }
    });
  });
}
