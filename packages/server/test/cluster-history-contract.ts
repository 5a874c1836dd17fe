import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { HistoryRule } from '@pulse/core';
import type { EngineOptions } from '../src/cluster/cluster-engine.js';
import type { ClusterHistory } from '../src/cluster/cluster-history.js';
import type { DisposableServer } from './cluster-suite.js';
import { sleep } from './helpers.js';

const rule = (size: number): HistoryRule => ({ pattern: '#', size, ttlMs: 0 });
const bytes = (s: string) => Buffer.from(s, 'utf8');
const texts = (entries: { bytes: Buffer }[]) => entries.map((e) => e.bytes.toString('utf8'));

/** One contract for every ClusterHistory, against a real server of its engine. */
export function historyContract(
  kind: 'redis' | 'nats',
  startServer: () => Promise<DisposableServer>,
  make: (options: EngineOptions) => ClusterHistory,
): void {
  describe(`${kind} cluster history contract`, () => {
    let server: DisposableServer;
    const open: ClusterHistory[] = [];
    let n = 0;
    const history = async (prefix = 'contract'): Promise<ClusterHistory> => {
      const h = make({ urls: [server.url], prefix, nodeName: `node-${++n}` });
      open.push(h);
      await h.start();
      for (let i = 0; i < 100 && !h.ready; i++) await sleep(20);
      assert.equal(h.ready, true, 'ready once started');
      return h;
    };

    before(async () => {
      server = await startServer();
    });
    after(async () => {
      await Promise.all(open.map((h) => h.close()));
      await server?.dispose();
    });

    test('appends get offsets 1, 2, 3 of one epoch, in call order; a read after an offset gives the rest, oldest first', async () => {
      const h = await history();
      const got = await Promise.all(
        ['a', 'b', 'c'].map((s) => h.append('c/1', rule(10), bytes(s), undefined, undefined)),
      );
      assert.deepEqual(
        got.map((p) => p.offset),
        [1, 2, 3],
      );
      assert.equal(new Set(got.map((p) => p.epoch)).size, 1);
      const read = await h.read('c/1', rule(10), { after: 1, limit: 10 });
      assert.equal(read.epoch, got[0]?.epoch);
      assert.equal(read.offset, 3);
      assert.deepEqual(
        read.entries.map((e) => e.offset),
        [2, 3],
      );
      assert.deepEqual(texts(read.entries), ['b', 'c']);
      const newest = await h.read('c/1', rule(10), { limit: 2 });
      assert.deepEqual(texts(newest.entries), ['b', 'c'], 'the newest two, oldest first');
      const position = await h.read('c/1', rule(10), { limit: 0 });
      assert.deepEqual([position.offset, position.entries.length], [3, 0]);
    });

    test('two nodes appending to one channel at once get one contiguous sequence, no offset twice', async () => {
      const [x, y] = [await history(), await history()];
      const appends = [];
      for (let i = 0; i < 40; i++) {
        appends.push(x.append('shared', rule(100), bytes(`x${i}`), undefined, undefined));
        appends.push(y.append('shared', rule(100), bytes(`y${i}`), undefined, undefined));
      }
      const got = await Promise.all(appends);
      const offsets = got.map((p) => p.offset).sort((p, q) => p - q);
      assert.deepEqual(
        offsets,
        Array.from({ length: 80 }, (_, i) => i + 1),
      );
      assert.equal(new Set(got.map((p) => p.epoch)).size, 1);
      // Each node's own appends are in its call order.
      const xs = got.filter((_, i) => i % 2 === 0).map((p) => p.offset);
      assert.deepEqual(
        xs,
        [...xs].sort((p, q) => p - q),
      );
      const read = await x.read('shared', rule(100), { after: 0, limit: 100 });
      assert.deepEqual(
        read.entries.map((e) => e.offset),
        offsets,
      );
    });

    test("the rule's size keeps the newest entries; the offset goes on", async () => {
      const h = await history();
      for (let i = 1; i <= 5; i++) await h.append('small', rule(3), bytes(`m${i}`), undefined, undefined);
      const read = await h.read('small', rule(3), { after: 0, limit: 10 });
      assert.equal(read.offset, 5);
      assert.deepEqual(texts(read.entries), ['m3', 'm4', 'm5']);
    });

    test('expiry times are kept with their entries', async () => {
      const h = await history();
      await h.append('exp', rule(5), bytes('soon'), 1234567890123, undefined);
      await h.append('exp', rule(5), bytes('never'), undefined, undefined);
      const read = await h.read('exp', rule(5), { after: 0, limit: 5 });
      assert.deepEqual(
        read.entries.map((e) => e.expiresAt),
        [1234567890123, undefined],
      );
    });

    test('a read of a channel never published creates its epoch: the next append continues it', async () => {
      const h = await history();
      const empty = await h.read('fresh', rule(5), { limit: 0 });
      assert.equal(empty.offset, 0);
      const first = await h.append('fresh', rule(5), bytes('1'), undefined, undefined);
      assert.deepEqual(first, { offset: 1, epoch: empty.epoch });
    });

    test('a stream below what a node has seen in its epoch gets a new epoch (the server lost publications)', async () => {
      const h = await history();
      const p = await h.append('lossy', rule(5), bytes('1'), undefined, undefined);
      const next = await h.append('lossy', rule(5), bytes('2'), undefined, { epoch: p.epoch, offset: 7 });
      assert.notEqual(next.epoch, p.epoch);
      assert.equal(next.offset, 1);
      const same = await h.append('lossy', rule(5), bytes('3'), undefined, next);
      assert.deepEqual(same, { epoch: next.epoch, offset: 2 });
    });

    test('prefixes do not share streams', async () => {
      const [one, two] = [await history('one'), await history('two')];
      await one.append('same', rule(5), bytes('1'), undefined, undefined);
      const other = await two.read('same', rule(5), { after: 0, limit: 5 });
      assert.deepEqual([other.offset, other.entries.length], [0, 0]);
    });

    test('the server restarted without its data: a new epoch; appends while it is down reject, and work again after', async () => {
      const h = await history();
      const before = await h.append('restart', rule(5), bytes('1'), undefined, undefined);
      await server.stop();
      await assert.rejects(h.append('restart', rule(5), bytes('x'), undefined, before));
      await server.restart();
      for (let i = 0; i < 150 && !h.ready; i++) await sleep(20);
      const read = await h.read('restart', rule(5), { limit: 5 });
      if (kind === 'redis') {
        assert.notEqual(read.epoch, before.epoch, 'nothing persisted: the stream is new');
        assert.equal(read.offset, 0);
      } else {
        // nats-server keeps its file store across a restart: the stream goes on.
        assert.equal(read.epoch, before.epoch);
        assert.equal(read.offset, 1);
      }
      const after = await h.append('restart', rule(5), bytes('2'), undefined, before);
      assert.equal(after.epoch, read.epoch);
    });
  });
}
