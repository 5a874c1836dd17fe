import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PresenceAction } from '@pulse/protocol';
import { type Message, PresenceEvent } from '../src/outbound.js';
import { PresenceRegistry } from '../src/presence.js';
import type { Subscriber } from '../src/subscriber.js';

function sub(id: string, user?: string): Subscriber {
  return { id, user, deliver(_m: Message) {} };
}

describe('PresenceRegistry', () => {
  it('join records the member and returns a join event', () => {
    const registry = new PresenceRegistry();
    const alice = sub('c1', 'alice');
    const event = registry.join(alice, 'lobby', { name: 'Alice' });
    assert.ok(event instanceof PresenceEvent);
    assert.equal(event.kind, 'presence');
    assert.equal(event.channel, 'lobby');
    assert.equal(event.action, PresenceAction.Join);
    assert.equal(event.connectionId, 'c1');
    assert.equal(event.user, 'alice');
    assert.deepEqual(event.data, { name: 'Alice' });
    assert.deepEqual(registry.snapshot('lobby'), { c1: { name: 'Alice' } });
    assert.deepEqual(registry.members('lobby'), [
      { connectionId: 'c1', user: 'alice', data: { name: 'Alice' } },
    ]);
    assert.deepEqual([...(alice.presenceChannels ?? [])], ['lobby']);
    assert.equal(registry.channelCount, 1);
  });

  it('snapshot maps connection ids to data ({} when none) and is empty for unknown channels', () => {
    const registry = new PresenceRegistry();
    registry.join(sub('c1'), 'lobby', { n: 1 });
    registry.join(sub('c2'), 'lobby', undefined);
    assert.deepEqual(registry.snapshot('lobby'), { c1: { n: 1 }, c2: {} });
    assert.deepEqual(registry.snapshot('elsewhere'), {});
    assert.deepEqual(registry.members('elsewhere'), []);
  });

  it('joining again replaces the data without duplicating the member', () => {
    const registry = new PresenceRegistry();
    const s = sub('c1');
    registry.join(s, 'lobby', { v: 1 });
    registry.join(s, 'lobby', { v: 2 });
    assert.equal(registry.members('lobby').length, 1);
    assert.deepEqual(registry.snapshot('lobby'), { c1: { v: 2 } });
  });

  it('update changes the data of a member and is undefined for non-members', () => {
    const registry = new PresenceRegistry();
    const s = sub('c1', 'u');
    assert.equal(registry.update(s, 'lobby', { v: 1 }), undefined);
    registry.join(s, 'lobby', { v: 1 });
    const event = registry.update(s, 'lobby', { v: 2 });
    assert.ok(event);
    assert.equal(event.action, PresenceAction.Update);
    assert.equal(event.user, 'u');
    assert.deepEqual(event.data, { v: 2 });
    assert.deepEqual(registry.snapshot('lobby'), { c1: { v: 2 } });
    assert.equal(registry.update(s, 'other', {}), undefined);
  });

  it('leave removes the member, carries its last data, and forgets empty channels', () => {
    const registry = new PresenceRegistry();
    const s = sub('c1');
    const t = sub('c2');
    registry.join(s, 'lobby', { v: 1 });
    registry.join(t, 'lobby', undefined);
    registry.join(s, 'kitchen', undefined);
    assert.equal(registry.channelCount, 2);

    const event = registry.leave(s, 'lobby');
    assert.ok(event);
    assert.equal(event.action, PresenceAction.Leave);
    assert.equal(event.connectionId, 'c1');
    assert.deepEqual(event.data, { v: 1 });
    assert.deepEqual(registry.snapshot('lobby'), { c2: {} });
    assert.deepEqual([...(s.presenceChannels ?? [])], ['kitchen']);
    assert.equal(registry.leave(s, 'lobby'), undefined);

    registry.leave(t, 'lobby');
    registry.leave(s, 'kitchen');
    assert.equal(registry.channelCount, 0);
    assert.equal(s.presenceChannels?.size, 0);
  });

  it('leave by a non-member does not disturb the channel', () => {
    const registry = new PresenceRegistry();
    registry.join(sub('c1'), 'lobby', undefined);
    assert.equal(registry.leave(sub('c2'), 'lobby'), undefined);
    assert.equal(registry.leave(sub('c2'), 'nowhere'), undefined);
    assert.deepEqual(Object.keys(registry.snapshot('lobby')), ['c1']);
    assert.equal(registry.channelCount, 1);
  });
});
