import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import { after, before, describe, test } from 'node:test';
import type { Publication } from '@pulse/client';
import { type Frame, encodeFrame } from '@pulse/protocol';
import { type Harness, Inbox, RawWs, sleep, startServer, wsClient } from './helpers.js';

let h: Harness;
before(async () => {
  h = await startServer({
    limits: {
      max_subscriptions_per_connection: 3,
      max_channels: 50,
      max_message_size: 1024,
      max_frame_size: 4096,
    },
  });
});
after(() => h.stop());

const text = (p: Publication) => Buffer.from(p.payload).toString();

describe('native protocol over WebSocket', () => {
  test('sends connected on open, and again after a connect frame', async () => {
    const raw = await RawWs.open(h.wsUrl);
    const first = raw.frames.items[0] as Frame & { type: 'connected' };
    assert.equal(first.type, 'connected');
    assert.equal(first.version, 1);
    assert.equal(first.heartbeat, 30000);
    assert.match(first.connection_id, /^[0-9a-f]+$/);
    raw.send({ type: 'connect', version: 1 });
    assert.deepEqual(await raw.frame(1), first);
    raw.send({ type: 9, version: 2 });
    const mismatch = await raw.frame(2);
    assert.equal(mismatch.type, 'error');
    assert.equal((mismatch as { code: number }).code, 1012);
    raw.ws.close();
  });

  test('subscribe, publish with ack, fan-out to every subscriber including the publisher', async () => {
    const a = await wsClient(h);
    const b = await wsClient(h);
    const inboxA = new Inbox<Publication>();
    const inboxB = new Inbox<Publication>();
    await a.subscribe('room:1', inboxA.push);
    await b.subscribe('room:1', inboxB.push);
    await a.publish('room:1', 'hi', { event: 'greet' });
    const [pa] = await inboxA.waitFor(1);
    assert.ok(pa !== undefined);
    const [pb] = await inboxB.waitFor(1);
    assert.ok(pb !== undefined);
    assert.equal(text(pa), 'hi');
    assert.equal(pa.event, 'greet');
    assert.equal(pb.channel, 'room:1');
    await a.unsubscribe('room:1');
    await b.publish('room:1', 'second');
    await inboxB.waitFor(2);
    await sleep(20);
    assert.equal(inboxA.items.length, 1, 'no delivery after unsubscribe');
    await a.close();
    await b.close();
  });

  test('numeric frame types are accepted; replies always use string names', async () => {
    const raw = await RawWs.open(h.wsUrl);
    raw.send({ type: 1, id: 7, channel: 'numeric' });
    assert.deepEqual(await raw.frame(1), { type: 'ack', id: 7 });
    raw.send({ type: 3, id: 8, channel: 'numeric', payload: Buffer.from([1, 2, 3]), extra: 'ignored' });
    const frames = await raw.frames.waitFor(3);
    const publish = frames.find((f) => f.type === 'publish') as Frame & { payload: Uint8Array };
    assert.deepEqual(Buffer.from(publish.payload), Buffer.from([1, 2, 3]));
    await raw.frames.waitFor(4);
    assert.ok(raw.frames.items.some((f) => f.type === 'ack' && f.id === 8));
    raw.ws.close();
  });

  test('MQTT-style wildcards: + matches one level, # the rest; each subscriber gets a message once', async () => {
    const c = await wsClient(h);
    const plus = new Inbox<Publication>();
    const hash = new Inbox<Publication>();
    await c.subscribe('sensors/+/temp', plus.push);
    await c.subscribe('sensors/#', hash.push);
    const pub = await wsClient(h);
    await pub.publish('sensors/kitchen/temp', '21');
    await pub.publish('sensors/kitchen/humidity', '40');
    await pub.publish('sensors', 'root');
    await pub.publish('other/kitchen/temp', 'no');
    await hash.waitFor(3);
    await sleep(30);
    // The client dispatches each received publication to every matching handler, so a double
    // delivery by the server would show up as duplicates here.
    assert.deepEqual(plus.items.map(text), ['21']);
    assert.deepEqual(hash.items.map(text), ['21', '40', 'root']);
    await c.close();
    await pub.close();
  });

  test('several frames in one WebSocket message, and a frame split across messages', async () => {
    const raw = await RawWs.open(h.wsUrl);
    const three = Buffer.concat([
      encodeFrame({ type: 'subscribe', id: 1, channel: 'multi' }),
      encodeFrame({ type: 'ping', timestamp: 42 }),
      encodeFrame({ type: 'publish', id: 2, channel: 'multi', payload: Buffer.from('x') }),
    ]);
    raw.sendBytes(three);
    const frames = await raw.frames.waitFor(5);
    assert.deepEqual(
      frames.slice(1).map((f) => f.type),
      ['ack', 'pong', 'publish', 'ack'],
    );
    assert.equal((frames[2] as { timestamp?: number }).timestamp, 42);
    const split = encodeFrame({ type: 'publish', id: 3, channel: 'multi', payload: Buffer.alloc(100, 7) });
    raw.sendBytes(split.subarray(0, 3));
    await sleep(20);
    raw.sendBytes(split.subarray(3, 50));
    await sleep(20);
    raw.sendBytes(split.subarray(50));
    const more = await raw.frames.waitFor(7);
    assert.equal(at(more, 5).type, 'publish');
    assert.equal((more[5] as { payload: Uint8Array }).payload.length, 100);
    assert.deepEqual(more[6], { type: 'ack', id: 3 });
    // RawWs checks that every server message holds exactly one whole frame.
    assert.equal(raw.messages.length, 7);
    raw.ws.close();
  });

  test('presence: join, update, sync, leave, and automatic leave on disconnect', async () => {
    const watcher = await wsClient(h);
    const events = new Inbox<{ action: string; connectionId: string; data?: Record<string, unknown> }>();
    watcher.onPresence(events.push);
    await watcher.subscribe('lobby', () => {});
    const alice = await wsClient(h);
    const bob = await wsClient(h);
    await alice.presence.join('lobby', { name: 'alice' });
    await bob.presence.join('lobby', { name: 'bob' });
    await alice.presence.update('lobby', { name: 'alice', away: true });
    const members = await watcher.presence.sync('lobby');
    assert.deepEqual(members, {
      [alice.connectionId]: { name: 'alice', away: true },
      [bob.connectionId]: { name: 'bob' },
    });
    await alice.presence.leave('lobby');
    await bob.close();
    const got = await events.waitFor(5);
    assert.deepEqual(
      got.map((e) => [e.action, e.connectionId]),
      [
        ['join', alice.connectionId],
        ['join', bob.connectionId],
        ['update', alice.connectionId],
        ['leave', alice.connectionId],
        ['leave', bob.connectionId],
      ],
    );
    assert.deepEqual(at(got, 2).data, { name: 'alice', away: true });
    assert.deepEqual(await watcher.presence.sync('lobby'), {});
    await assert.rejects(alice.presence.leave('lobby'), { code: 1008 });
    await alice.close();
    await watcher.close();
  });

  test('ping is answered with pong echoing the timestamp', async () => {
    const raw = await RawWs.open(h.wsUrl);
    raw.send({ type: 'ping', timestamp: 123456 });
    assert.deepEqual(await raw.frame(1), { type: 'pong', timestamp: 123456 });
    raw.send({ type: 'ping' });
    const bare = (await raw.frame(2)) as { type: string; timestamp?: number };
    assert.equal(bare.type, 'pong');
    assert.equal(bare.timestamp, undefined);
    assert.equal(at(raw.messages, 2).length, 4 + 1 + 5 + 5, 'a bare pong is the map {type: "pong"} only');
    raw.ws.close();
  });
});

describe('native protocol errors', () => {
  async function expectError(frame: object | Buffer, code: number, id = 0) {
    const raw = await RawWs.open(h.wsUrl);
    if (Buffer.isBuffer(frame)) raw.sendBytes(frame);
    else raw.send(frame);
    const reply = (await raw.frame(1)) as { type: string; code: number; id: number; message: string };
    assert.equal(reply.type, 'error');
    assert.equal(reply.code, code, reply.message);
    assert.equal(reply.id, id);
    assert.ok(reply.message.length > 0);
    return raw;
  }

  test('1001 InvalidFrame: garbage, not a map, unknown type, missing id, server-only frames', async () => {
    const garbage = Buffer.from([0, 0, 0, 3, 0xc1, 0xc1, 0xc1]);
    for (const raw of [
      await expectError(garbage, 1001),
      await expectError({ type: 'nope' }, 1001),
      await expectError({ type: 'subscribe', channel: 'x' }, 1001),
      await expectError({ type: 'ack', id: 1 }, 1001),
      await expectError({ type: 'publish', id: 4, channel: 'x', payload: 12 }, 1001, 4),
    ]) {
      // The connection stays usable after a bad frame.
      raw.send({ type: 'ping', timestamp: 1 });
      assert.equal((await raw.frame(2)).type, 'pong');
      raw.ws.close();
    }
  });

  test('1002 InvalidChannel: wildcard publish, empty, too long, non-ASCII, misplaced #', async () => {
    for (const frame of [
      { type: 'publish', id: 1, channel: 'a/+', payload: Buffer.from('x') },
      { type: 'subscribe', id: 1, channel: '' },
      { type: 'subscribe', id: 1, channel: 'x'.repeat(257) },
      { type: 'subscribe', id: 1, channel: 'caf\u00e9' },
      { type: 'subscribe', id: 1, channel: 'a/#/b' },
      { type: 'subscribe', id: 1, channel: '$internal' },
    ]) {
      (await expectError(frame, 1002, 1)).ws.close();
    }
  });

  test('1004 Forbidden: publishing to a reserved $ channel', async () => {
    (
      await expectError({ type: 'publish', id: 5, channel: '$SYS/x', payload: Buffer.from('x') }, 1004, 5)
    ).ws.close();
  });

  test('one connection publishing to a good channel between bad ones: each is judged on its own', async () => {
    // The session skips the name checks for the channel it last let through (RecentName):
    // a refused channel is never that one, and the good one stays good.
    const raw = await RawWs.open(h.wsUrl);
    const sequence: [string, number | undefined][] = [
      ['room:checked', undefined],
      ['$SYS/x', 1004],
      ['room:checked', undefined],
      ['room/+', 1002],
      ['room:checked', undefined],
      ['x'.repeat(257), 1002],
      ['room:checked', undefined],
      ['room/#', 1002],
    ];
    let frames = 0;
    for (const [i, [channel, code]] of sequence.entries()) {
      raw.send({ type: 'publish', id: i + 1, channel, payload: Buffer.from('x') });
      const reply = (await raw.frame(++frames)) as { type: string; id: number; code?: number };
      assert.equal(reply.id, i + 1, channel);
      if (code === undefined) assert.equal(reply.type, 'ack', channel);
      else assert.deepEqual([reply.type, reply.code], ['error', code], channel);
    }
    raw.ws.close();
  });

  test('1006 RateLimited: too many subscriptions on one connection', async () => {
    const c = await wsClient(h);
    for (let i = 0; i < 3; i++) await c.subscribe(`limit:${i}`, () => {});
    await assert.rejects(
      c.subscribe('limit:3', () => {}),
      { code: 1006 },
    );
    await c.close();
  });

  test('1007 PayloadTooLarge: payload over max_message_size; the connection survives', async () => {
    const raw = await expectError(
      { type: 'publish', id: 9, channel: 'big', payload: Buffer.alloc(1025) },
      1007,
      9,
    );
    raw.send({ type: 'ping' });
    assert.equal((await raw.frame(2)).type, 'pong');
    raw.ws.close();
  });

  test('1007 then close: a frame over max_frame_size', async () => {
    const header = Buffer.alloc(4);
    header.writeUInt32BE(5000);
    const raw = await expectError(header, 1007);
    assert.equal(await raw.closed, 1009);
  });

  test('1008 NotSubscribed and 1009 AlreadySubscribed', async () => {
    const c = await wsClient(h);
    await assert.rejects(c.unsubscribe('never'), { code: 1008 });
    await c.subscribe('twice', () => {});
    await assert.rejects(
      c.subscribe('twice', () => {}),
      { code: 1009 },
    );
    await c.close();
  });

  test('a text message is the JSON protocol (json-protocol.test.ts): answered in JSON, no crash', async () => {
    const raw = await RawWs.open(h.wsUrl);
    const reply = new Promise<string>((resolve) => raw.ws.once('message', (d) => resolve(String(d))));
    raw.ws.send('{"id":1,"method":"ping"}');
    assert.deepEqual(JSON.parse(await reply), { id: 1, result: {} });
    raw.ws.close();
  });
});
