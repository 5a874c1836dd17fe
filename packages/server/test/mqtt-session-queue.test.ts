import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Publication } from '@pulse/core';
import { MqttSession, type SessionPolicy } from '../src/mqtt/session.js';

function policy(): SessionPolicy {
  return {
    maxQueued: 10,
    maxQueuedBytes: 0,
    queueQos0Offline: false,
    queueQos0WhenCongested: false,
    total: { queued: 0, queuedBytes: 0 },
    maxQueuedTotal: 100,
    maxQueuedBytesTotal: 0,
    onDrop: () => {},
  };
}

function offlineSession(id: string, p: SessionPolicy): MqttSession {
  const session = new MqttSession(id, id, p);
  session.setSubscription('q/#', { qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 });
  return session;
}

test('a message queued for an away client does not pin the socket read its payload was cut from; sessions share one copy', () => {
  const read = Buffer.alloc(65_536, 7);
  const publication = new Publication({ channel: 'q/a', payload: read.subarray(1000, 1128), qos: 1 });
  const p = policy();
  const a = offlineSession('a', p);
  const b = offlineSession('b', p);
  a.deliver(publication);
  b.deliver(publication);
  const queuedA = a.queue[0].publication;
  const queuedB = b.queue[0].publication;
  assert.equal(queuedA.payload.buffer.byteLength, 128, 'an owned copy, not a view of the 64 KiB read');
  assert.deepEqual(Buffer.from(queuedA.payload), read.subarray(1000, 1128));
  assert.equal(queuedA, queuedB, 'one copy for both sessions');
  assert.equal(p.total.queued, 2);
});
