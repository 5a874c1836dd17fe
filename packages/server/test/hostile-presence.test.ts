import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import { after, before, describe, test } from 'node:test';
import { LENGTH_PREFIX_BYTES, MAX_NESTING_DEPTH } from '@pulse/protocol';
import { Packr } from 'msgpackr';
import { JsonClient, NativeTcp, SECRET, token } from './auth-helpers.js';
import { type Harness, RawWs, metricValue, scrape, sleep, startServer } from './helpers.js';

// biome-ignore lint/suspicious/noExplicitAny: frames are checked field by field
type Json = Record<string, any>;

const plain = new Packr({ useRecords: false, variableMapSize: true });
const clone = new Packr({ structuredClone: true, useRecords: false });
const types = new Packr({ moreTypes: true, useRecords: false, useBigIntExtension: true } as never);

const framed = (body: Uint8Array): Buffer => {
  const out = Buffer.alloc(LENGTH_PREFIX_BYTES + body.length);
  out.writeUInt32BE(body.length, 0);
  out.set(body, LENGTH_PREFIX_BYTES);
  return out;
};

/** The join frames of issue 9, items 1 and 2, on `channel`, as an attacker's msgpackr writes them. */
function attacks(channel: string): Array<[string, Buffer]> {
  const join = { type: 'presence', id: 7, channel, action: 0 };
  const cyclic: unknown[] = [];
  cyclic.push(cyclic);
  const deepHead = plain.pack({ ...join, data: 0 }).subarray(0, -1);
  return [
    ['self-containing array', framed(clone.pack({ ...join, data: { a: cyclic } }))],
    ['128-bit BigInt', framed(types.pack({ ...join, data: { b: 2n ** 127n } }))],
    ['arrays 3,000 deep', framed(Buffer.concat([deepHead, Buffer.alloc(3000, 0x91), Buffer.from([0x80])]))],
    ['Float64Array of 32 KiB', framed(types.pack({ ...join, data: { f: new Float64Array(4096) } }))],
    ['Date', framed(plain.pack({ ...join, data: { d: new Date() } }))],
  ];
}

/** Every byte a connection received, whatever the framing. */
function received(c: NativeTcp): () => Buffer {
  const chunks: Buffer[] = [];
  c.socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  return () => Buffer.concat(chunks);
}

describe('hostile presence data (issue 9 items 1, 2)', () => {
  let h: Harness;
  before(async () => {
    h = await startServer();
  });
  after(() => h.stop());

  test('extension types and deep nesting in a join are refused (1001); subscribers on every protocol see nothing; the server lives', async () => {
    const channel = 'room/attacked';
    const nativeSub = await RawWs.open(h.wsUrl);
    nativeSub.send({ type: 'subscribe', id: 1, channel });
    const jsonSub = await JsonClient.open(h.wsUrl);
    await jsonSub.ok('subscribe', { channel });
    await nativeSub.frame(1);
    for (const [name, bytes] of attacks(channel)) {
      const attacker = await NativeTcp.open(h.tcpPort);
      assert.equal((await attacker.next()).type, 'connected');
      attacker.socket.write(bytes);
      const err = (await attacker.expectError(1001, 0)) as Json;
      assert.match(err.message, /^frame refused: /, name);
      // Still connected and served: the refusal is an answer, not a crash.
      attacker.send({ type: 'ping', timestamp: 5 });
      assert.deepEqual(await attacker.next(), { type: 'pong', timestamp: 5 }, name);
      attacker.destroy();
      await attacker.closed;
    }
    // A plain join still reaches both subscribers, and it is the first presence event they see.
    const member = await NativeTcp.open(h.tcpPort);
    await member.next();
    member.send({ type: 'presence', id: 2, channel, action: 0, data: { name: 'ok' } });
    await member.expectAck(2);
    const event = (await nativeSub.frames.waitFor(3))[2];
    assert.ok(event !== undefined);
    assert.deepEqual([event.type, (event as Json).data], ['presence', { name: 'ok' }]);
    const push = (await jsonSub.pushes.waitFor(1))[0];
    assert.ok(push !== undefined);
    assert.deepEqual([push.method, push.params.data], ['join', { name: 'ok' }]);
    member.destroy();
    await nativeSub.frames.waitFor(4); // its leave
    assert.equal(nativeSub.frames.items.length, 4);
    assert.equal(at(await jsonSub.pushes.waitFor(2), 1).method, 'leave');
    await sleep(50);
    assert.equal(nativeSub.frames.items.length, 4);
    assert.equal(jsonSub.pushes.items.length, 2);
    const health = await fetch(`${h.httpUrl}/health`);
    assert.equal(health.status, 200);
    assert.equal(metricValue(await scrape(h), 'pulse_connection_errors_total{where="close"}'), 0);
    nativeSub.ws.close();
    jsonSub.close();
  });

  test('a sync reply holds exactly the bytes members sent, whatever the encoder held before', async () => {
    const channel = 'room/sync';
    const attacker = await NativeTcp.open(h.tcpPort);
    await attacker.next();
    const bytesSeen = received(attacker);
    // Fill the encoder's memory with other traffic first (publications the attacker is not subscribed to).
    const marker = Buffer.from('OTHER-CLIENTS-SECRET');
    const publisher = await NativeTcp.open(h.tcpPort);
    await publisher.next();
    const reader = await NativeTcp.open(h.tcpPort);
    await reader.next();
    reader.send({ type: 'subscribe', id: 1, channel: 'private/x' });
    await reader.expectAck(1);
    // 25 x 30 KB stays under the reader's 1 MiB outbound budget: none is dropped for a slow read.
    for (let i = 0; i < 25; i++) {
      publisher.send({
        type: 'publish',
        id: i + 1,
        channel: 'private/x',
        payload: Buffer.concat([marker, Buffer.alloc(30_000, i)]),
      });
    }
    for (let i = 0; i < 25; i++) await publisher.expectAck(i + 1);
    const typed = attacks(channel).find(([name]) => name.startsWith('Float64Array'))?.[1] as Buffer;
    attacker.socket.write(typed);
    await attacker.expectError(1001, 0);
    const mine = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]);
    attacker.send({ type: 'presence', id: 3, channel, action: 0, data: { f: mine, n: 1.5 } });
    await attacker.expectAck(3);
    attacker.send({ type: 'presence', id: 4, channel, action: 3 });
    const sync = (await attacker.next()) as Json;
    assert.equal(sync.type, 'presence');
    const members = Object.values(sync.data) as Json[];
    assert.equal(members.length, 1);
    assert.deepEqual(Buffer.from(at(members, 0).f), mine);
    assert.equal(at(members, 0).n, 1.5);
    assert.equal(bytesSeen().indexOf(marker), -1, 'a reply carried another client’s bytes');
    await reader.frames.waitFor(27);
    attacker.destroy();
    publisher.destroy();
    reader.destroy();
  });
});

describe('presence data leaks nothing under auth (issue 9 item 2)', () => {
  let h: Harness;
  before(async () => {
    h = await startServer({ auth: { enabled: true, jwt_hmac_secret: SECRET } });
  });
  after(() => h.stop());

  test('every reply to an attacker holds only what it sent or may read', async () => {
    const marker = Buffer.from('SECRET-OF-ANOTHER-USER');
    const { c: victim } = await NativeTcp.connect(h.tcpPort, await token('victim', ['secret/#']));
    victim.send({ type: 'subscribe', id: 1, channel: 'secret/x' });
    await victim.expectAck(1);
    const { c: attacker } = await NativeTcp.connect(h.tcpPort, await token('attacker', ['attacker/#']));
    const bytesSeen = received(attacker);
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 20; i++) {
        victim.send({
          type: 'publish',
          channel: 'secret/x',
          payload: Buffer.concat([marker, Buffer.alloc(20_000, i)]),
        });
      }
      for (const [, bytes] of attacks('attacker/room')) {
        attacker.socket.write(bytes);
        await attacker.expectError(1001, 0);
      }
      attacker.send({
        type: 'presence',
        id: 10 + round,
        channel: 'attacker/room',
        action: 0,
        data: { r: round },
      });
      await attacker.expectAck(10 + round);
      attacker.send({ type: 'presence', id: 20 + round, channel: 'attacker/room', action: 3 });
      const sync = (await attacker.next()) as Json;
      assert.deepEqual(Object.values(sync.data), [{ r: round }]);
    }
    // The secrets did flow meanwhile (the test would prove nothing otherwise).
    await victim.frames.waitFor(20);
    assert.ok(victim.frames.items.some((f) => f.type === 'publish'));
    assert.equal(bytesSeen().indexOf(marker), -1, 'a reply to the attacker carried the victim’s data');
    attacker.destroy();
    victim.destroy();
  });
});

describe('presence bounds (issue 9 item 7)', () => {
  let h: Harness;
  before(async () => {
    h = await startServer({
      limits: { max_channels: 8 },
      presence: { max_channels_per_connection: 5, max_data_bytes: 64 },
    });
  });
  after(() => h.stop());

  test('joins count against presence.max_channels_per_connection and limits.max_channels (1006 / 429)', async () => {
    const a = await NativeTcp.open(h.tcpPort);
    await a.next();
    for (let i = 0; i < 5; i++) {
      a.send({ type: 'presence', id: i + 1, channel: `p/${i}`, action: 0 });
      await a.expectAck(i + 1);
    }
    a.send({ type: 'presence', id: 6, channel: 'p/5', action: 0 });
    assert.match((await a.expectError(1006, 6)).message, /present on too many channels \(limit 5\)/);
    // Joining again where it is present already is an update of the same membership.
    a.send({ type: 'presence', id: 7, channel: 'p/0', action: 0, data: { again: true } });
    await a.expectAck(7);
    const b = await JsonClient.open(h.wsUrl);
    for (let i = 5; i < 8; i++) await b.ok('presence_join', { channel: `p/${i}` });
    const full = await b.call('presence_join', { channel: 'p/8' });
    assert.equal(full.error.code, 429);
    assert.match(full.error.message, /too many channels with presence \(limit 8\)/);
    // Joining a channel that has members already creates no channel.
    await b.ok('presence_join', { channel: 'p/0' });
    assert.equal(metricValue(await scrape(h), 'pulse_presence_channels'), 8);
    // A leave makes room again.
    a.send({ type: 'presence', id: 8, channel: 'p/4', action: 1 });
    await a.expectAck(8);
    await b.ok('presence_join', { channel: 'p/8' });
    a.destroy();
    b.close();
    await Promise.all([a.closed, b.closed]);
    await sleep(20);
    assert.equal(metricValue(await scrape(h), 'pulse_presence_channels'), 0);
  });

  test('presence data over presence.max_data_bytes is refused (1007 / 413); so is data nesting too deep (1001 / 400)', async () => {
    const a = await NativeTcp.open(h.tcpPort);
    await a.next();
    a.send({ type: 'presence', id: 1, channel: 'q', action: 0, data: { s: 'x'.repeat(40) } });
    await a.expectAck(1);
    a.send({ type: 'presence', id: 2, channel: 'q', action: 2, data: { s: 'x'.repeat(80) } });
    assert.match((await a.expectError(1007, 2)).message, /presence data of \d+ bytes exceeds 64/);
    a.send({ type: 'presence', id: 3, channel: 'q2', action: 0, data: { b: Buffer.alloc(100) } });
    await a.expectError(1007, 3);
    // The frame's map is level 1, data level 2; a sync reply puts it at level 3.
    let deep: unknown = 1;
    for (let i = 0; i < MAX_NESTING_DEPTH - 2; i++) deep = [deep];
    a.send({ type: 'presence', id: 4, channel: 'q3', action: 0, data: { deep } });
    assert.match((await a.expectError(1001, 4)).message, /nests deeper than 30 levels/);
    a.send({ type: 'presence', id: 5, channel: 'q', action: 3 });
    const sync = (await a.next()) as Json;
    assert.deepEqual(Object.values(sync.data), [{ s: 'x'.repeat(40) }]);
    const j = await JsonClient.open(h.wsUrl);
    assert.equal(await j.code('presence_join', { channel: 'q', data: { s: 'y'.repeat(80) } }), 413);
    assert.equal(await j.code('presence_join', { channel: 'q', data: { deep } }), 400);
    await j.ok('presence_join', { channel: 'q', data: { s: 'y' } });
    a.destroy();
    j.close();
    await sleep(10);
  });
});

describe('presence sync replies are bounded (issue 9 item 7)', () => {
  let h: Harness;
  before(async () => {
    h = await startServer({ limits: { max_outbound_bytes: 4096 }, presence: { max_data_bytes: 1024 } });
  });
  after(() => h.stop());

  test('a sync holds the members whose data fits limits.max_outbound_bytes, and says truncated', async () => {
    const members: NativeTcp[] = [];
    for (let i = 0; i < 10; i++) {
      const m = await NativeTcp.open(h.tcpPort);
      await m.next();
      m.send({ type: 'presence', id: 1, channel: 'big', action: 0, data: { s: String(i).repeat(990) } });
      await m.expectAck(1);
      members.push(m);
    }
    const asker = await NativeTcp.open(h.tcpPort);
    await asker.next();
    asker.send({ type: 'presence', id: 2, channel: 'big', action: 3 });
    const sync = (await asker.next()) as Json;
    const got = Object.values(sync.data) as Json[];
    // In the order they joined: each of ~1 KiB, so 3 fit in 4 KiB.
    assert.deepEqual(
      got.map((d) => d.s[0]),
      ['0', '1', '2'],
    );
    assert.equal(sync.truncated, true);
    const j = await JsonClient.open(h.wsUrl);
    const reply = await j.ok('presence', { channel: 'big' });
    assert.equal(Object.keys(reply.presence).length, 3);
    assert.equal(reply.truncated, true);
    // A channel whose members all fit has no `truncated`.
    at(members, 0).send({ type: 'presence', id: 3, channel: 'small', action: 0, data: { s: 'x' } });
    await at(members, 0).expectAck(3);
    asker.send({ type: 'presence', id: 4, channel: 'small', action: 3 });
    const small = (await asker.next()) as Json;
    assert.equal(Object.keys(small.data).length, 1);
    assert.equal('truncated' in small, false);
    for (const m of members) m.destroy();
    asker.destroy();
    j.close();
  });
});
