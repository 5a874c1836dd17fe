import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MAX_REMOTE_MEMBERS } from '@pulse/core';
import { msgpack } from '@pulse/protocol';
import { Redis } from 'ioredis';
import { LIST_MIN_INTERVAL_MS, REMOTE_DATA_FACTOR } from '../src/cluster/cluster-presence.js';
import { CONTROL_CHANNEL } from '../src/cluster/control-bus.js';
import { type Node, startNode } from './cluster-nodes.js';
import { Inbox, sleep, wsClient } from './helpers.js';
import { endAll, eventually, mqttClient } from './mqtt-helpers.js';
import { type RedisServer, startRedisServer } from './redis-server.js';

/**
 * What a writer on the shared engine server (any process with its URL) can send to a node:
 * bytes no Pulse node would publish, on the channels every node listens to. Real redis-server,
 * real nodes, the hostile writer an ioredis client of its own.
 */

const redisChannel = (channel: string) => `pulse:p:${channel}`;
let forgedSeq = 0;

function envelope(fields: Record<string, unknown>): Buffer {
  return msgpack.pack({
    v: 1,
    o: 'forger',
    s: ++forgedSeq,
    t: Date.now(),
    c: 't',
    d: Buffer.from('x'),
    ...fields,
  });
}

function control(m: Record<string, unknown>, origin = 'forger', to?: string): Buffer {
  return msgpack.pack({ v: 1, o: origin, t: Date.now(), k: 'c', m, n: to });
}

describe('cluster: a hostile writer on the engine server', () => {
  let redis: RedisServer;
  let node: Node;
  let hostile: Redis;

  before(async () => {
    redis = await startRedisServer();
    node = await startNode({ engine: 'redis', url: redis.url, node_name: 'target', presence_ttl_ms: 1500 });
    hostile = new Redis(redis.url);
  });
  after(async () => {
    hostile?.disconnect();
    await node?.stop();
    await redis?.dispose();
  });

  test('a publication no client could have made is dropped and counted: wildcard, $SYS, control-character, overlong channels; MQTT 5 properties of the wrong types; times that are not numbers', async () => {
    const received: string[] = [];
    const v5 = await mqttClient(node.tcpUrl, { protocolVersion: 5 });
    const second = await mqttClient(node.tcpUrl, { protocolVersion: 5 });
    const native = await wsClient(node);
    try {
      v5.on('message', (topic) => received.push(`v5 ${topic}`));
      second.on('message', (topic) => received.push(`second ${topic}`));
      await new Promise((resolve) => v5.subscribe('#', { qos: 1 }, resolve));
      await new Promise((resolve) => second.subscribe('#', { qos: 0 }, resolve));
      await native.subscribe('a/+', (p) => received.push(`native ${p.channel}`));
      await node.cluster.settled();
      const rejectedBefore = node.cluster.stats.rejected;
      const forged: [string, Record<string, unknown>][] = [
        ['a/+', { c: 'a/+' }],
        ['a/#', { c: 'a/#' }],
        ['$SYS/broker/uptime', { c: '$SYS/broker/uptime' }],
        ['nul\u0000', { c: 'nul\u0000' }],
        ['up', { c: 'up', p: { userProperties: 5 } }],
        ['up2', { c: 'up2', p: { userProperties: { a: { nested: [1] } } } }],
        ['pf', { c: 'pf', p: { payloadFormatIndicator: 'yes' } }],
        ['cd', { c: 'cd', p: { correlationData: 7 } }],
        ['ct', { c: 'ct', p: { contentType: ['x'] } }],
        ['nan', { c: 'nan', t: Number.NaN }],
        ['exp', { c: 'exp', x: Number.POSITIVE_INFINITY }],
        ['off', { c: 'off', f: -1.5 }],
        // A topic an MQTT client could not name: past limits.max_channel_length (1024 bytes).
        ['é'.repeat(600), { c: 'é'.repeat(600) }],
      ];
      for (const [redisName, fields] of forged)
        await hostile.publish(redisChannel(redisName), envelope(fields));
      await hostile.publish(
        redisChannel('fine'),
        envelope({ c: 'fine', p: { userProperties: { k: ['a', 'b'] } } }),
      );
      await eventually(
        () => received.includes('v5 fine') && received.includes('second fine'),
        'the good one',
      );
      await sleep(100);
      assert.deepEqual(received.sort(), ['second fine', 'v5 fine']);
      // a/+ and a/# come twice: through the interest of '#' and through that of 'a/+'.
      assert.equal(node.cluster.stats.rejected - rejectedBefore, forged.length + 2);
      assert.ok(Number.isFinite(node.cluster.stats.lagMs));
      assert.ok(v5.connected && second.connected);
      assert.equal(node.logs.filter((l) => l.level >= 50).length, 0, 'no error lines');
    } finally {
      native.close();
      await endAll(v5, second);
    }
  });

  test('a forged publication queued for an offline MQTT session does not stop the session from coming back', async () => {
    const options = {
      protocolVersion: 5 as const,
      clientId: 'hostile-writer-persistent',
      clean: false,
      properties: { sessionExpiryInterval: 300 },
    };
    let client = await mqttClient(node.tcpUrl, options);
    await new Promise((resolve) => client.subscribe('queued', { qos: 1 }, resolve));
    await node.cluster.settled();
    await new Promise((resolve) => client.end(false, {}, () => resolve(undefined)));
    await hostile.publish(redisChannel('queued'), envelope({ c: 'queued', q: 1, p: { userProperties: 5 } }));
    await hostile.publish(redisChannel('queued'), envelope({ c: 'queued', q: 1, x: 1e300 }));
    await hostile.publish(redisChannel('queued'), envelope({ c: 'queued', q: 1, d: Buffer.from('good') }));
    await sleep(200);
    client = await mqttClient(node.tcpUrl, options);
    const got = () => client.inbox.items.map((m) => String(m.payload));
    try {
      await eventually(() => got().includes('good'), 'the good publication');
      assert.deepEqual(got(), ['good']);
    } finally {
      await new Promise((resolve) => client.end(true, {}, () => resolve(undefined)));
    }
  });

  test("forged presence joins are held to this node's own rules: data over its bound, channels no client can name, ids too long; a size claimed too small is not believed", async () => {
    const maxData = REMOTE_DATA_FACTOR * 4096;
    const rejectedBefore = node.cluster.stats.rejected;
    const remote = node.server.broker.remotePresence;
    const sizeBefore = remote.size;
    const bytesBefore = remote.heldBytes;
    const ctl = redisChannel(CONTROL_CHANNEL);
    const big = msgpack.pack({ blob: Buffer.alloc(maxData) });
    const refused: Record<string, unknown>[] = [
      { y: 'j', c: 'room', i: 'big', d: big, b: 0 },
      { y: 'j', c: 'a/+', i: 'wild', b: 1 },
      { y: 'j', c: '$SYS/x', i: 'sys', b: 1 },
      { y: 'j', c: 'x'.repeat(300), i: 'long-channel', b: 1 },
      { y: 'j', c: 'room', i: 'i'.repeat(1025), b: 1 },
      { y: 'j', c: 'room', i: 'long-user', u: 'u'.repeat(1025), b: 1 },
    ];
    for (const m of refused) await hostile.publish(ctl, control(m, 'presence-forger'));
    const fine = msgpack.pack({ blob: 'y'.repeat(1000) });
    await hostile.publish(ctl, control({ y: 'j', c: 'room', i: 'fine', d: fine, b: 0 }, 'presence-forger'));
    await eventually(() => remote.size === sizeBefore + 1, 'the one well-formed join');
    assert.equal(node.cluster.stats.rejected - rejectedBefore, refused.length);
    const member = [...(remote.members('room') ?? [])].find((m) => m.connectionId === 'fine');
    assert.ok(
      member !== undefined && member.bytes >= fine.length,
      `its size is what it holds: ${member?.bytes}`,
    );
    assert.ok(remote.heldBytes - bytesBefore >= fine.length);
  });

  test('asking for member lists over and over makes a node send its list at most once per LIST_MIN_INTERVAL_MS', async () => {
    const member = await wsClient(node);
    try {
      await member.presence.join('listed', { n: 1 });
      const sent = node.cluster.presence.listsSentAt;
      const before = sent.length;
      const started = Date.now();
      let asks = 0;
      while (Date.now() - started < LIST_MIN_INTERVAL_MS) {
        await hostile.publish(redisChannel(CONTROL_CHANNEL), control({ y: 'h' }, 'asker'));
        asks++;
        await sleep(20);
      }
      await sleep(LIST_MIN_INTERVAL_MS + 200);
      const lists = sent.slice(before);
      // What is under test is the spacing of the answers (a list may be due at the start,
      // and a loaded machine stretches the window).
      assert.ok(lists.length >= 1 && lists.length <= 3, `${lists.length} lists for ${asks} asks`);
      for (let i = 1; i < lists.length; i++) {
        const gap = (lists[i] ?? 0) - (lists[i - 1] ?? 0);
        assert.ok(gap >= LIST_MIN_INTERVAL_MS - 5, `lists ${gap} ms apart`);
      }
    } finally {
      member.close();
    }
  });

  test('unfinished member lists from many origins are remembered up to MAX_REMOTE_MEMBERS members in all', async () => {
    const ctl = redisChannel(CONTROL_CHANNEL);
    const perOrigin = Math.ceil((0.6 * MAX_REMOTE_MEMBERS) / 500) * 500;
    const marker = await wsClient(node);
    const done = new Inbox<unknown>();
    await marker.subscribe('marker', done.push);
    await node.cluster.settled();
    for (const origin of ['lister-1', 'lister-2']) {
      for (let part = 0; part < perOrigin / 500; part++) {
        const m = Array.from({ length: 500 }, (_, i) => ['r', `${origin}-${part}-${i}`, null, null, 0]);
        await hostile.publish(ctl, control({ y: 's', n: 1, f: false, m }, origin));
      }
    }
    // Same connection, in order: once the marker is here, every part before it was taken.
    await hostile.publish(redisChannel('marker'), envelope({ c: 'marker' }));
    await done.waitFor(1, 20_000);
    marker.close();
    const held = node.cluster.presence.listMembersHeld;
    assert.ok(held <= MAX_REMOTE_MEMBERS, `${held} members of unfinished lists held`);
    assert.ok(held > 0);
  });
});

describe('cluster: envelopes forged in the name of a real node', () => {
  let redis: RedisServer;
  let a: Node;
  let b: Node;
  let hostile: Redis;

  before(async () => {
    redis = await startRedisServer();
    const cluster = { engine: 'redis' as const, url: redis.url, presence_ttl_ms: 1500 };
    [a, b] = await Promise.all([
      startNode({ ...cluster, node_name: 'a' }),
      startNode({ ...cluster, node_name: 'b' }),
    ]);
    hostile = new Redis(redis.url);
  });
  after(async () => {
    hostile?.disconnect();
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.dispose();
  });

  test('one envelope with a sequence number far ahead does not make the node drop the real publications', async () => {
    const onA = await wsClient(a);
    const onB = await wsClient(b);
    const inbox = new Inbox<string>();
    try {
      await onB.subscribe('news', (p) => inbox.push(Buffer.from(p.payload).toString()));
      await b.cluster.settled();
      await onA.publish('news', 'before');
      await inbox.waitFor(1);
      const forged = envelope({ o: a.cluster.nodeId, s: Number.MAX_SAFE_INTEGER, c: 'elsewhere' });
      await hostile.publish(redisChannel(CONTROL_CHANNEL), forged);
      await sleep(50);
      for (const text of ['after-1', 'after-2']) await onA.publish('news', text);
      await inbox.waitFor(3);
      assert.deepEqual(inbox.items, ['before', 'after-1', 'after-2']);
    } finally {
      onA.close();
      onB.close();
    }
  });

  test("a goodbye forged in a live node's name drops its members only until that node is next heard from", async () => {
    const onA = await wsClient(a);
    const onB = await wsClient(b);
    try {
      await onA.presence.join('hall', { who: 'ann' });
      await eventually(async () => Object.keys(await onB.presence.sync('hall')).length === 1, 'ann on B');
      await hostile.publish(redisChannel(CONTROL_CHANNEL), control({ y: 'b' }, a.cluster.nodeId));
      await eventually(
        async () => Object.keys(await onB.presence.sync('hall')).length === 0,
        'the forgery works',
      );
      // A says it is alive every 500 ms: B asks it for its members.
      await eventually(
        async () => Object.keys(await onB.presence.sync('hall')).length === 1,
        'ann back on B',
        3000,
      );
    } finally {
      onA.close();
      onB.close();
    }
  });
});
