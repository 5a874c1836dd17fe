import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Publication, SubscribedContext, UnsubscribedContext } from '@pulse/client';
import { type Harness, sleep, startServer } from './helpers.js';
import { next, pulse, until } from './sdk-helpers.js';

const API_KEY = 'sdk-test-api-key-0123456789';
let h: Harness;
before(async () => {
  h = await startServer({
    history: [{ pattern: 'subs/#', size: 100 }],
    auth: { api_keys: [API_KEY] },
  } as never);
});
const closers: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const close of closers.reverse()) await close();
  await h.stop();
});

const text = (p: Publication) => new TextDecoder().decode(p.payload);

/** A client that reconnects quickly and another to publish with, both connecting. */
function reconnectingPair() {
  const client = pulse(h.wsUrl, { minReconnectDelayMs: 50, maxReconnectDelayMs: 100 });
  const other = pulse(h.wsUrl);
  closers.push(
    () => client.close(),
    () => other.close(),
  );
  client.connect();
  other.connect();
  return { client, other };
}

/** The server API closes the connection (error 1010): a reconnect, not a stop. */
async function disconnectByApi(connectionId: string): Promise<void> {
  const res = await fetch(`${h.httpUrl}/api/disconnect`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': API_KEY },
    body: JSON.stringify({ connection_id: connectionId }),
  });
  assert.equal(res.status, 200, await res.text());
}

test('a subscribe the server refuses ends the subscription with reason refused and the error', async () => {
  const client = pulse(h.wsUrl);
  closers.push(() => client.close());
  client.connect();
  const sub = client.newSubscription('$bad/x');
  const ended = next<UnsubscribedContext>((f) => sub.on('unsubscribed', f));
  sub.subscribe();
  const ctx = await ended;
  assert.equal(ctx.reason, 'refused');
  assert.equal(ctx.error?.code, 1002);
  assert.equal(sub.state, 'unsubscribed');
  await assert.rejects(sub.ready());
  assert.throws(() => client.newSubscription('$bad/x'), /exists already/);
  client.removeSubscription(sub);
  assert.equal(client.getSubscription('$bad/x'), undefined);
});

test('unsubscribe stops delivery; subscribing again on the same connection works at once', async () => {
  const { client, other } = reconnectingPair();
  const seen: string[] = [];
  const sub = client.subscribe('subs/a', (p) => seen.push(text(p)));
  await sub.ready();
  await other.publish('subs/a', 'one');
  await until(() => seen.length === 1, 'one');
  sub.unsubscribe();
  sub.subscribe();
  await sub.ready();
  assert.equal(sub.state, 'subscribed');
  await other.publish('subs/a', 'two');
  await until(() => seen.length === 2, 'two');
  sub.unsubscribe();
  await sleep(50);
  await other.publish('subs/a', 'three');
  await sleep(100);
  assert.deepEqual(seen, ['one', 'two']);
  assert.equal(client.lastPosition('subs/a')?.offset, 2);
});

test('a removed subscription refuses to subscribe again (kind removed); a new one for its channel works and survives a reconnect', async () => {
  const { client, other } = reconnectingPair();
  const old = client.subscribe('subs/removed', () => {});
  await old.ready();
  client.removeSubscription(old);
  // Subscribed on the live connection, it would not be restored after a reconnect (the
  // client forgot it): refused at once instead.
  assert.throws(() => old.subscribe(), { name: 'PulseClientError', kind: 'removed', code: 1008 });
  assert.equal(old.state, 'unsubscribed');
  await assert.rejects(old.ready(), { kind: 'removed' });
  const seen: string[] = [];
  const fresh = client.subscribe('subs/removed', (p) => seen.push(text(p)));
  assert.notEqual(fresh, old);
  await fresh.ready();
  const firstId = client.connectionId;
  await disconnectByApi(firstId);
  await until(() => client.state === 'connected' && client.connectionId !== firstId, 'the reconnect');
  await fresh.ready();
  await other.publish('subs/removed', 'after the reconnect');
  await until(() => seen.length === 1, 'the publication on the restored subscription');
});

test('a wildcard subscription is restored after a reconnect (without recovery)', async () => {
  const { client, other } = reconnectingPair();
  const seen: string[] = [];
  const sub = client.subscribe('subs/w/+', (p) => seen.push(`${p.channel}=${text(p)}`));
  await sub.ready();
  const first = client.connectionId;
  const resubscribed = next<SubscribedContext>((f) => sub.on('subscribed', f));
  await disconnectByApi(first);
  const ctx = await resubscribed;
  assert.equal(ctx.recovered, false);
  assert.notEqual(client.connectionId, first);
  await other.publish('subs/w/x', '1');
  await until(() => seen.length === 1, 'the publication after the reconnect');
  assert.deepEqual(seen, ['subs/w/x=1']);
});
