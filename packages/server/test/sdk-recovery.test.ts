import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { Publication, SubscribedContext } from '@pulse/client';
import { type Harness, freePort, startServer } from './helpers.js';
import { KillablePulse, TestProxy, next, proxiedPair, pulse, until } from './sdk-helpers.js';

const text = (p: Publication) => new TextDecoder().decode(p.payload);
const closers: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const close of closers.reverse()) await close();
});

describe('recovery across a SIGKILL of the server (same SQLite file, same port)', () => {
  test('the subscription recovers with no gap and no duplicate; presence is joined again', async () => {
    const server = await KillablePulse.start('[[history]]\npattern = "seq"\nsize = 1000\n');
    closers.push(() => server.stop());
    // The subscriber reaches the server through a proxy that keeps it away until the publisher
    // is done, so that what it missed during and after the outage must come by recovery.
    const proxy = await TestProxy.start(server.port);
    closers.push(() => proxy.close());
    const sub = pulse(`ws://127.0.0.1:${proxy.port}/ws`, {
      minReconnectDelayMs: 50,
      maxReconnectDelayMs: 200,
    });
    const pub = pulse(server.wsUrl, { minReconnectDelayMs: 50, maxReconnectDelayMs: 200, offline: 'queue' });
    const watcher = pulse(server.wsUrl, { minReconnectDelayMs: 50, maxReconnectDelayMs: 200 });
    closers.push(
      () => sub.close(),
      () => pub.close(),
      () => watcher.close(),
    );
    const got: string[] = [];
    const offsets: number[] = [];
    const contexts: SubscribedContext[] = [];
    const s = sub.newSubscription('seq');
    s.on('publication', (p) => {
      got.push(text(p));
      offsets.push(p.offset ?? -1);
    });
    let deliveredAtResubscribe = -1;
    s.on('subscribed', (ctx) => {
      contexts.push(ctx);
      deliveredAtResubscribe = got.length;
    });
    s.subscribe();
    sub.connect();
    pub.connect();
    watcher.connect();
    await s.ready();
    await sub.presence.join('room', { name: 'ann' });

    let n = 0;
    const publishUpTo = async (end: number) => {
      const acks: Promise<void>[] = [];
      for (; n < end; n++) acks.push(pub.publish('seq', `m${n}`));
      await Promise.all(acks);
    };
    await publishUpTo(100);
    await until(() => got.length === 100, 'the first 100 publications');

    proxy.refusing = true;
    await server.kill();
    await until(
      () => pub.state !== 'connected' && sub.state !== 'connected',
      'both clients to notice the kill',
    );
    // During the outage: queued by the publisher, sent once it is back.
    const during = publishUpTo(150);
    await server.start();
    await during;
    await publishUpTo(200);
    assert.equal(got.length, 100, 'the subscriber is still away');
    const resubscribed = next<SubscribedContext>((h) => s.on('subscribed', h), 8000);
    proxy.refusing = false;
    const ctx = await resubscribed;
    assert.deepEqual([ctx.wasRecovering, ctx.recovered, ctx.position?.offset], [true, true, 200]);
    assert.equal(deliveredAtResubscribe, 100, 'the recovered publications come after the subscribed event');
    // Live again: these follow the recovered ones.
    await publishUpTo(250);
    await until(() => got.length >= 250, `all 250 publications (got ${got.length})`, 10_000);

    assert.deepEqual(
      got,
      Array.from({ length: 250 }, (_, i) => `m${i}`),
      'every publication once, in order',
    );
    assert.deepEqual(
      offsets,
      Array.from({ length: 250 }, (_, i) => i + 1),
    );
    assert.equal(contexts.length, 2);
    assert.equal(contexts[0]?.wasRecovering, false);
    const members = await watcher.presence.sync('room');
    assert.deepEqual(members[sub.connectionId], { name: 'ann' }, 'the join is back, data included');
    assert.equal(Object.keys(members).length, 1);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(got.length, 250, 'nothing delivered twice later');
  });
});

describe('when recovery is impossible the subscription says recovered: false', () => {
  test('the epoch changed (memory storage, server restarted on the same port)', async () => {
    const port = await freePort();
    const config = { server: { port }, history: [{ pattern: 'ep', size: 100 }] } as never;
    let h: Harness = await startServer(config);
    closers.push(() => h.stop());
    const client = pulse(h.wsUrl, { minReconnectDelayMs: 50, maxReconnectDelayMs: 100 });
    closers.push(() => client.close());
    const seen: string[] = [];
    const s = client.subscribe('ep', (p) => seen.push(text(p)));
    client.connect();
    await s.ready();
    await client.publish('ep', 'before');
    await until(() => seen.length === 1, 'the first publication');
    const before = s.lastPosition();

    const resubscribed = next<SubscribedContext>((h) => s.on('subscribed', h), 8000);
    await h.stop();
    h = await startServer(config);
    const ctx = await resubscribed;
    assert.equal(ctx.wasRecovering, true);
    assert.equal(ctx.recovered, false);
    assert.notEqual(ctx.position?.epoch, before?.epoch, 'a new epoch');
    await client.publish('ep', 'after');
    await until(() => seen.length === 2, 'the publication after the restart');
    assert.deepEqual(seen, ['before', 'after']);
    assert.equal(s.lastPosition()?.epoch, ctx.position?.epoch);
  });

  test('more publications were missed than the history keeps (same epoch)', async () => {
    const { proxy, client, direct } = await proxiedPair(
      { history: [{ pattern: 'small', size: 5 }] } as never,
      {},
      closers,
    );
    const seen: string[] = [];
    const s = client.subscribe('small', (p) => seen.push(text(p)));
    client.connect();
    direct.connect();
    await s.ready();
    await direct.publish('small', 'p0');
    await until(() => seen.length === 1, 'p0');
    const before = s.lastPosition();

    proxy.refusing = true;
    proxy.cut();
    await until(() => client.state !== 'connected', 'the client to see the cut');
    for (let i = 1; i <= 20; i++) await direct.publish('small', `p${i}`);
    const resubscribed = next<SubscribedContext>((h) => s.on('subscribed', h));
    proxy.refusing = false;
    const ctx = await resubscribed;
    assert.deepEqual([ctx.wasRecovering, ctx.recovered], [true, false]);
    assert.equal(
      ctx.position?.epoch,
      before?.epoch,
      'same epoch: the publications were dropped, not the stream',
    );
    assert.equal(ctx.position?.offset, 21);
    assert.deepEqual(seen, ['p0'], 'nothing resent when recovery is impossible');
    await direct.publish('small', 'live');
    await until(() => seen.length === 2, 'the live publication');
    assert.deepEqual(s.lastPosition(), { offset: 22, epoch: before?.epoch });
  });

  test('what was missed within the history is recovered over the same server (recovered: true)', async () => {
    const { proxy, client, direct } = await proxiedPair(
      { history: [{ pattern: 'kept', size: 100 }] } as never,
      {},
      closers,
    );
    const seen: string[] = [];
    const s = client.subscribe('kept', (p) => seen.push(text(p)));
    client.connect();
    direct.connect();
    await s.ready();
    await direct.publish('kept', 'k0');
    await until(() => seen.length === 1, 'k0');
    proxy.refusing = true;
    proxy.cut();
    await until(() => client.state !== 'connected', 'the client to see the cut');
    for (let i = 1; i <= 10; i++) await direct.publish('kept', `k${i}`);
    const resubscribed = next<SubscribedContext>((h) => s.on('subscribed', h));
    proxy.refusing = false;
    const ctx = await resubscribed;
    assert.deepEqual([ctx.wasRecovering, ctx.recovered], [true, true]);
    await until(() => seen.length === 11, 'the recovered publications');
    assert.deepEqual(
      seen,
      Array.from({ length: 11 }, (_, i) => `k${i}`),
    );
  });
});
