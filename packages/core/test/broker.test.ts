import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PresenceAction } from '@pulse/protocol';
import { Broker, type BrokerLimits } from '../src/broker.js';
import { type Message, PresenceEvent, Publication } from '../src/outbound.js';
import { Refusal } from '../src/refusal.js';
import type { Subscriber } from '../src/subscriber.js';

const INVALID_CHANNEL = 1002;
const FORBIDDEN = 1004;
const RATE_LIMITED = 1006;
const NOT_SUBSCRIBED = 1008;
const ALREADY_SUBSCRIBED = 1009;

interface TestSubscriber extends Subscriber {
  received: Message[];
}

function sub(id: string, user?: string): TestSubscriber {
  const received: Message[] = [];
  return {
    id,
    user,
    received,
    deliver(m: Message) {
      received.push(m);
    },
  };
}

function broker(limits: Partial<BrokerLimits> = {}): Broker {
  return new Broker({ maxChannels: 1000, maxSubscriptionsPerConnection: 100, ...limits });
}

function pub(channel: string, publisher?: string): Publication {
  return new Publication({ channel, payload: new Uint8Array([1, 2, 3]), publisher });
}

function codeOf(result: unknown): number {
  assert.ok(result instanceof Refusal, `expected a Refusal, got ${String(result)}`);
  return result.code;
}

function publications(s: TestSubscriber): string[] {
  return s.received.filter((m) => m.kind === 'publication').map((m) => m.channel);
}

function presenceEvents(s: TestSubscriber): [number, string, string][] {
  return s.received
    .filter((m): m is PresenceEvent => m instanceof PresenceEvent)
    .map((m) => [m.action, m.channel, m.connectionId]);
}

describe('Broker.subscribe / unsubscribe', () => {
  it('subscribes, records the filter on the subscriber and counts it', () => {
    const b = broker();
    const s = sub('s');
    assert.equal(b.subscribe(s, 'chat'), undefined);
    assert.equal(b.subscribe(s, 'news/+'), undefined);
    assert.deepEqual([...(s.filters ?? [])], ['chat', 'news/+']);
    assert.equal(b.stats.subscriptions, 2);
    assert.equal(b.channelCount, 2);
  });

  it('refuses invalid filters with 1002', () => {
    const b = broker();
    const s = sub('s');
    for (const f of ['', 'a/#/b', '$secret', 'x'.repeat(257), 'caf\u00e9']) {
      assert.equal(codeOf(b.subscribe(s, f)), INVALID_CHANNEL, f);
    }
    assert.equal(b.stats.subscriptions, 0);
    assert.equal(s.filters?.length ?? 0, 0);
  });

  it('allows subscribing to $SYS', () => {
    const b = broker();
    assert.equal(b.subscribe(sub('s'), '$SYS/#'), undefined);
  });

  it('refuses a second subscription to the same filter with 1009', () => {
    const b = broker();
    const s = sub('s');
    b.subscribe(s, 'chat');
    assert.equal(codeOf(b.subscribe(s, 'chat')), ALREADY_SUBSCRIBED);
    assert.equal(b.stats.subscriptions, 1);
  });

  it('refuses unsubscribing from something not subscribed with 1008', () => {
    const b = broker();
    const s = sub('s');
    assert.equal(codeOf(b.unsubscribe(s, 'chat')), NOT_SUBSCRIBED);
    b.subscribe(s, 'chat');
    assert.equal(b.unsubscribe(s, 'chat'), undefined);
    assert.equal(codeOf(b.unsubscribe(s, 'chat')), NOT_SUBSCRIBED);
    assert.equal(b.stats.subscriptions, 0);
    assert.equal(b.channelCount, 0);
  });

  it('unsubscribing stops delivery', () => {
    const b = broker();
    const s = sub('s');
    b.subscribe(s, 'chat');
    b.subscribe(s, 'news/#');
    b.unsubscribe(s, 'chat');
    b.unsubscribe(s, 'news/#');
    assert.equal(b.publish(pub('chat')), 0);
    assert.equal(b.publish(pub('news/today')), 0);
    assert.deepEqual(s.received, []);
  });

  it('enforces max_subscriptions_per_connection with 1006', () => {
    const b = broker({ maxSubscriptionsPerConnection: 2 });
    const s = sub('s');
    assert.equal(b.subscribe(s, 'a'), undefined);
    assert.equal(b.subscribe(s, 'b/+'), undefined);
    assert.equal(codeOf(b.subscribe(s, 'c')), RATE_LIMITED);
    // The limit is per connection.
    assert.equal(b.subscribe(sub('t'), 'c'), undefined);
    // Freed by an unsubscribe.
    b.unsubscribe(s, 'a');
    assert.equal(b.subscribe(s, 'c'), undefined);
    assert.equal(b.stats.subscriptions, 3);
  });

  it('enforces max_channels with 1006, counting distinct filters only', () => {
    const b = broker({ maxChannels: 2 });
    const s = sub('s');
    const t = sub('t');
    assert.equal(b.subscribe(s, 'a'), undefined);
    assert.equal(b.subscribe(s, 'b/#'), undefined);
    assert.equal(codeOf(b.subscribe(s, 'c')), RATE_LIMITED);
    assert.equal(codeOf(b.subscribe(t, 'c/+')), RATE_LIMITED);
    // Existing filters can still gain subscribers.
    assert.equal(b.subscribe(t, 'a'), undefined);
    assert.equal(b.subscribe(t, 'b/#'), undefined);
    assert.equal(b.channelCount, 2);
    // A filter is freed only when its last subscriber leaves.
    b.unsubscribe(s, 'a');
    assert.equal(codeOf(b.subscribe(s, 'c')), RATE_LIMITED);
    b.unsubscribe(t, 'a');
    assert.equal(b.channelCount, 1);
    assert.equal(b.subscribe(s, 'c'), undefined);
  });

  it('checks the filter before the limits', () => {
    const b = broker({ maxChannels: 0, maxSubscriptionsPerConnection: 0 });
    assert.equal(codeOf(b.subscribe(sub('s'), '#/a')), INVALID_CHANNEL);
    assert.equal(codeOf(b.subscribe(sub('s'), 'ok')), RATE_LIMITED);
  });
});

describe('Broker.publish', () => {
  it('returns the number of deliveries and updates stats', () => {
    const b = broker();
    const s = sub('s');
    const t = sub('t');
    const u = sub('u');
    b.subscribe(s, 'chat/room1');
    b.subscribe(t, 'chat/+');
    b.subscribe(u, 'other');
    const p = pub('chat/room1');
    assert.equal(b.publish(p), 2);
    assert.equal(b.publish(pub('nobody/listens')), 0);
    assert.deepEqual(b.stats, { publications: 2, deliveries: 2, subscriptions: 3 });
    assert.equal(s.received[0], p, 'the same Publication object is delivered');
    assert.equal(t.received[0], p);
    assert.deepEqual(u.received, []);
  });

  it('delivers once to a subscriber matching via several filters', () => {
    const b = broker();
    const s = sub('s');
    for (const f of ['a/b', 'a/+', 'a/#', '#']) b.subscribe(s, f);
    assert.equal(b.publish(pub('a/b')), 1);
    assert.deepEqual(publications(s), ['a/b']);
  });

  it('delivers to the publisher too when it is subscribed', () => {
    const b = broker();
    const s = sub('s');
    b.subscribe(s, 'chat');
    assert.equal(b.publish(pub('chat', 's')), 1);
    assert.deepEqual(publications(s), ['chat']);
  });

  it('refuses wildcards with 1002 and $ channels with 1004, without counting them', () => {
    const b = broker();
    const s = sub('s');
    b.subscribe(s, '#');
    b.subscribe(s, '$SYS/#');
    assert.equal(codeOf(b.publish(pub('a/+'))), INVALID_CHANNEL);
    assert.equal(codeOf(b.publish(pub('#'))), INVALID_CHANNEL);
    assert.equal(codeOf(b.publish(pub(''))), INVALID_CHANNEL);
    assert.equal(codeOf(b.publish(pub('$SYS/x'))), FORBIDDEN);
    assert.equal(b.stats.publications, 0);
    assert.equal(b.stats.deliveries, 0);
    assert.deepEqual(s.received, []);
  });
});

describe('Broker presence', () => {
  it('join, update and leave are delivered to channel subscribers, including wildcard ones', () => {
    const b = broker();
    const alice = sub('c1', 'alice');
    const watcher = sub('c2');
    const wild = sub('c3');
    b.subscribe(alice, 'lobby');
    b.subscribe(watcher, 'lobby');
    b.subscribe(wild, '#');

    assert.equal(b.presenceJoin(alice, 'lobby', { name: 'Alice' }), undefined);
    assert.equal(b.presenceUpdate(alice, 'lobby', { name: 'Al' }), undefined);
    assert.equal(b.presenceLeave(alice, 'lobby'), undefined);

    const expected: [number, string, string][] = [
      [PresenceAction.Join, 'lobby', 'c1'],
      [PresenceAction.Update, 'lobby', 'c1'],
      [PresenceAction.Leave, 'lobby', 'c1'],
    ];
    assert.deepEqual(presenceEvents(watcher), expected);
    assert.deepEqual(presenceEvents(wild), expected);
    assert.deepEqual(presenceEvents(alice), expected);
    const update = watcher.received[1] as PresenceEvent;
    assert.equal(update.user, 'alice');
    assert.deepEqual(update.data, { name: 'Al' });
    assert.equal(b.stats.deliveries, 9);
    assert.equal(b.stats.publications, 0);
  });

  it('sync returns the members and their data', () => {
    const b = broker();
    b.presenceJoin(sub('c1'), 'lobby', { n: 1 });
    b.presenceJoin(sub('c2'), 'lobby');
    assert.deepEqual(b.presenceSync('lobby'), { c1: { n: 1 }, c2: {} });
    assert.deepEqual(b.presenceSync('empty'), {});
  });

  it('update and leave by a non-member are refused with 1008', () => {
    const b = broker();
    const s = sub('s');
    assert.equal(codeOf(b.presenceUpdate(s, 'lobby', {})), NOT_SUBSCRIBED);
    assert.equal(codeOf(b.presenceLeave(s, 'lobby')), NOT_SUBSCRIBED);
    b.presenceJoin(s, 'lobby');
    b.presenceLeave(s, 'lobby');
    assert.equal(codeOf(b.presenceLeave(s, 'lobby')), NOT_SUBSCRIBED);
  });

  it('refuses invalid and reserved channels like publish does', () => {
    const b = broker();
    const s = sub('s');
    assert.equal(codeOf(b.presenceJoin(s, 'a/+')), INVALID_CHANNEL);
    assert.equal(codeOf(b.presenceJoin(s, '$SYS/x')), FORBIDDEN);
    assert.equal(codeOf(b.presenceUpdate(s, '', {})), INVALID_CHANNEL);
    assert.equal(codeOf(b.presenceLeave(s, '#')), INVALID_CHANNEL);
    assert.equal(codeOf(b.presenceSync('$x')), FORBIDDEN);
    assert.equal(b.presence.channelCount, 0);
  });
});

describe('Broker.disconnect', () => {
  it('removes every subscription and announces presence leaves to the remaining subscribers', () => {
    const b = broker();
    const gone = sub('gone');
    const stay = sub('stay');
    b.subscribe(gone, 'lobby');
    b.subscribe(gone, 'news/#');
    b.subscribe(gone, 'private');
    b.subscribe(stay, 'lobby');
    b.subscribe(stay, 'kitchen');
    b.presenceJoin(gone, 'lobby', { n: 1 });
    b.presenceJoin(gone, 'kitchen');
    stay.received.length = 0;
    gone.received.length = 0;

    b.disconnect(gone);

    assert.equal(gone.filters, undefined);
    assert.equal(gone.presenceChannels, undefined);
    assert.equal(b.stats.subscriptions, 2);
    assert.equal(b.channelCount, 2);
    assert.equal(b.presence.channelCount, 0);
    assert.deepEqual(presenceEvents(stay).sort(), [
      [PresenceAction.Leave, 'kitchen', 'gone'],
      [PresenceAction.Leave, 'lobby', 'gone'],
    ]);
    assert.deepEqual(gone.received, [], 'the departing subscriber gets nothing');
    const leave = stay.received.find((m) => m.channel === 'lobby') as PresenceEvent;
    assert.deepEqual(leave.data, { n: 1 });

    assert.equal(b.publish(pub('lobby')), 1);
    assert.equal(b.publish(pub('news/x')), 0);
    assert.equal(b.publish(pub('private')), 0);
    assert.deepEqual(gone.received, []);
    assert.deepEqual(b.presenceSync('lobby'), {});
  });

  it('is harmless for a subscriber that never subscribed, and when repeated', () => {
    const b = broker();
    const s = sub('s');
    b.disconnect(s);
    b.subscribe(s, 'a');
    b.disconnect(s);
    b.disconnect(s);
    assert.equal(b.stats.subscriptions, 0);
    assert.equal(b.channelCount, 0);
    // The same object may subscribe again afterwards.
    assert.equal(b.subscribe(s, 'a'), undefined);
    assert.equal(b.publish(pub('a')), 1);
  });

  for (const wildcard of [false, true]) {
    it(`a subscriber disconnected during fan-out does not break delivery to others (${
      wildcard ? 'wildcard' : 'exact'
    } path)`, () => {
      const b = broker();
      const before = [sub('b1'), sub('b2')];
      const after = [sub('a1'), sub('a2'), sub('a3')];
      const received: Message[] = [];
      const quitter: Subscriber = {
        id: 'quitter',
        deliver(m: Message) {
          received.push(m);
          if (m.kind === 'publication') b.disconnect(quitter);
        },
      };
      for (const s of before) b.subscribe(s, 'room');
      b.subscribe(quitter, 'room');
      b.presenceJoin(quitter, 'room');
      for (const s of after) b.subscribe(s, wildcard ? '+' : 'room');
      for (const s of [...before, ...after]) s.received.length = 0;
      received.length = 0;

      assert.equal(b.publish(pub('room')), 6);
      assert.deepEqual(
        received.map((m) => m.kind),
        ['publication'],
      );
      for (const s of [...before, ...after]) {
        assert.deepEqual(publications(s), ['room'], s.id);
        assert.deepEqual(presenceEvents(s), [[PresenceAction.Leave, 'room', 'quitter']], s.id);
      }
      assert.equal(b.stats.subscriptions, 5);

      // And the broker is consistent afterwards.
      assert.equal(b.publish(pub('room')), 5);
      assert.equal(received.length, 1);
    });
  }
});
