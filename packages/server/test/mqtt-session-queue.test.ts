import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
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
    publisherPause: { maxPauseMs: 2000, percent: 10 },
    pauseStats: { publisherPauses: 0, readerStalls: 0 },
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
  const queuedA = at(a.queue, 0).publication;
  const queuedB = at(b.queue, 0).publication;
  assert.equal(queuedA.payload.buffer.byteLength, 128, 'an owned copy, not a view of the 64 KiB read');
  assert.deepEqual(Buffer.from(queuedA.payload), read.subarray(1000, 1128));
  assert.equal(queuedA, queuedB, 'one copy for both sessions');
  assert.equal(p.total.queued, 2);
});

test('a message refused by mqtt.max_queued_bytes_total costs its session none of its oldest', () => {
  const drops: string[] = [];
  const p = {
    ...policy(),
    maxQueuedBytes: 250,
    maxQueuedBytesTotal: 300,
    onDrop: (r: string) => drops.push(r),
  };
  const a = offlineSession('a', p);
  const b = offlineSession('b', p);
  const message = (size: number) => new Publication({ channel: 'q/a', payload: Buffer.alloc(size), qos: 1 });
  a.deliver(message(100));
  a.deliver(message(100));
  b.deliver(message(90));
  assert.equal(p.total.queuedBytes, 299);
  // Fits a's own limit once its oldest goes, but not the total even then.
  a.deliver(message(140));
  assert.deepEqual(drops, ['queue_bytes_total']);
  assert.equal(a.queue.length, 2);
  assert.equal(a.queuedBytes, 206);
  assert.equal(p.total.queuedBytes, 299);
});
