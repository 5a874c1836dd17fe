import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PresenceAction } from '@pulse/protocol';
import { type Message, PresenceEvent } from '../src/outbound.js';
import { PresenceRegistry } from '../src/presence.js';
import { MAX_REMOTE_MEMBERS, RemotePresence } from '../src/remote-presence.js';
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
    assert.deepEqual(
      [...registry.localMembers()].map((m) => ({ channel: m.channel, ...m.member })),
      [{ channel: 'lobby', connectionId: 'c1', user: 'alice', data: { name: 'Alice' } }],
    );
    assert.deepEqual([...(alice.presenceChannels ?? [])], ['lobby']);
    assert.equal(registry.channelCount, 1);
  });

  it('snapshot maps connection ids to data ({} when none) and is empty for unknown channels', () => {
    const registry = new PresenceRegistry();
    registry.join(sub('c1'), 'lobby', { n: 1 });
    registry.join(sub('c2'), 'lobby', undefined);
    assert.deepEqual(registry.snapshot('lobby'), { c1: { n: 1 }, c2: {} });
    assert.deepEqual(registry.snapshot('elsewhere'), {});
    assert.equal(registry.memberCount('elsewhere'), 0);
  });

  it('joining again replaces the data without duplicating the member', () => {
    const registry = new PresenceRegistry();
    const s = sub('c1');
    registry.join(s, 'lobby', { v: 1 });
    registry.join(s, 'lobby', { v: 2 });
    assert.equal(registry.memberCount('lobby'), 1);
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

describe('RemotePresence (members of other nodes)', () => {
  const member = (node: string, connectionId: string, data?: Record<string, unknown>) => ({
    node,
    connectionId,
    user: `u-${connectionId}`,
    data,
    bytes: 10,
  });

  it('reads include remote members after local ones; limits count local channels only', () => {
    const remote = new RemotePresence();
    const registry = new PresenceRegistry(remote);
    registry.join(sub('local1'), 'lobby', { here: true });
    const join = remote.join(member('nodeB', 'b1', { there: 1 }), 'lobby');
    assert.equal(join?.action, PresenceAction.Join);
    remote.join(member('nodeB', 'b2'), 'only-remote');
    assert.deepEqual(registry.snapshot('lobby'), { local1: { here: true }, b1: { there: 1 } });
    assert.equal(registry.memberCount('lobby'), 2);
    assert.deepEqual(registry.snapshot('only-remote'), { b2: {} });
    assert.equal(registry.channelCount, 1, 'remote channels do not count against local limits');
    // Bounded like a local read: the first member always, then what fits.
    assert.deepEqual(Object.keys(registry.snapshot('lobby', 1)), ['local1']);
  });

  it('a second join from the same node is an update; the same id from another node is ignored', () => {
    const remote = new RemotePresence();
    remote.join(member('nodeB', 'b1', { v: 1 }), 'lobby');
    const update = remote.join(member('nodeB', 'b1', { v: 2 }), 'lobby');
    assert.equal(update?.action, PresenceAction.Update);
    assert.deepEqual(update?.data, { v: 2 });
    assert.equal(remote.join(member('nodeC', 'b1', { v: 3 }), 'lobby'), undefined);
    assert.equal(remote.leave('nodeC', 'lobby', 'b1'), undefined, 'another node cannot make it leave');
    assert.equal(remote.size, 1);
  });

  it('dropNode makes every member of that node leave, and only those', () => {
    const remote = new RemotePresence();
    remote.join(member('nodeB', 'b1'), 'a');
    remote.join(member('nodeB', 'b1'), 'b');
    remote.join(member('nodeB', 'b2'), 'a');
    remote.join(member('nodeC', 'c1'), 'a');
    const leaves = remote.dropNode('nodeB');
    assert.deepEqual(leaves.map((e) => [e.channel, e.connectionId, e.action]).sort(), [
      ['a', 'b1', PresenceAction.Leave],
      ['a', 'b2', PresenceAction.Leave],
      ['b', 'b1', PresenceAction.Leave],
    ]);
    assert.equal(remote.size, 1);
    assert.equal(remote.memberCount('a'), 1);
    assert.deepEqual([...remote.nodes()], ['nodeC']);
  });

  it(`holds at most ${MAX_REMOTE_MEMBERS} members; past it joins are ignored and counted`, () => {
    const remote = new RemotePresence();
    for (let i = 0; i < MAX_REMOTE_MEMBERS; i++) remote.join(member('n', `m${i}`), 'big');
    assert.equal(remote.join(member('n', 'one-more'), 'big'), undefined);
    assert.equal(remote.ignored, 1);
    assert.equal(remote.size, MAX_REMOTE_MEMBERS);
  });
});
