import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Publication } from '@pulse/core';
import { HistorySequencer } from '../src/cluster/history-sequencer.js';
import { sleep } from './helpers.js';

const pub = (offset: number, epoch = 'e1', channel = 'c') => {
  const p = new Publication({ channel, payload: Buffer.from(String(offset)) });
  p.offset = offset;
  p.epoch = epoch;
  return p;
};

/** `engine`: the stream's epoch and newest offset as the engine's server would answer them. */
function sequencer(store: Publication[] = [], gapWaitMs = 50, engine = { epoch: 'e1', offset: 1000 }) {
  const delivered: string[] = [];
  const reads: [number, number][] = [];
  const s = new HistorySequencer(
    (p) => {
      delivered.push(`${p.epoch}:${p.offset}`);
      return 1;
    },
    async (_channel, epoch, from, to) => {
      reads.push([from, to]);
      const found = store.filter(
        (p) => p.epoch === epoch && (p.offset as number) >= from && (p.offset as number) <= to,
      );
      return { ...engine, found: engine.epoch === epoch ? found : [] };
    },
    gapWaitMs,
  );
  return { s, delivered, reads, engine };
}

describe('HistorySequencer', () => {
  test('in order: delivered at once; duplicates dropped', () => {
    const { s, delivered } = sequencer();
    assert.equal(s.offer(pub(1)), 1);
    assert.equal(s.offer(pub(2)), 1);
    assert.equal(s.offer(pub(2)), 0);
    assert.equal(s.offer(pub(1)), 0);
    assert.deepEqual(delivered, ['e1:1', 'e1:2']);
    assert.equal(s.stats.duplicates, 2);
    assert.deepEqual(s.seen('c'), { epoch: 'e1', offset: 2 });
  });

  test('out of order: the later one waits for the earlier one, then both go in offset order', async () => {
    const { s, delivered, reads } = sequencer();
    s.offer(pub(1));
    assert.equal(s.offer(pub(3)), 0);
    assert.deepEqual(delivered, ['e1:1']);
    s.offer(pub(2));
    assert.deepEqual(delivered, ['e1:1', 'e1:2', 'e1:3']);
    await sleep(80);
    assert.deepEqual(reads, [], 'no engine read when the gap filled in time');
  });

  test('a gap that does not fill is read from the engine; what it lacks too is skipped and counted', async () => {
    const { s, delivered, reads } = sequencer([pub(3)]);
    s.offer(pub(1));
    s.offer(pub(5));
    await sleep(120);
    assert.deepEqual(reads, [[2, 4]]);
    assert.deepEqual(delivered, ['e1:1', 'e1:3', 'e1:5']);
    assert.equal(s.stats.skipped, 2);
  });

  test('a new epoch starts the channel over once the engine confirms it; late publications of the replaced epoch are dropped', async () => {
    const { s, delivered, engine } = sequencer();
    s.offer(pub(7));
    engine.epoch = 'e2';
    s.offer(pub(1, 'e2'));
    s.offer(pub(2, 'e2'));
    await sleep(10);
    s.offer(pub(8));
    s.offer(pub(3, 'e2'));
    assert.deepEqual(delivered, ['e1:7', 'e2:1', 'e2:2', 'e2:3']);
    assert.equal(s.offer(pub(4, 'e3'), true), 1, "this node's own append: its epoch is the engine's");
    assert.deepEqual(delivered, ['e1:7', 'e2:1', 'e2:2', 'e2:3', 'e3:4']);
  });

  test('a forged epoch the engine does not have is dropped: the channel goes on in its own', async () => {
    const { s, delivered } = sequencer();
    s.offer(pub(1));
    s.offer(pub(2, 'forged'));
    await sleep(10);
    s.offer(pub(2));
    s.offer(pub(3));
    assert.deepEqual(delivered, ['e1:1', 'e1:2', 'e1:3']);
    assert.equal(s.stats.refused, 1);
  });

  test("a forged offset past the engine's newest is dropped when the gap is filled, not delivered", async () => {
    const { s, delivered } = sequencer([], 20, { epoch: 'e1', offset: 1 });
    s.offer(pub(1));
    s.offer(pub(1e12));
    await sleep(60);
    s.offer(pub(2));
    assert.deepEqual(delivered, ['e1:1', 'e1:2']);
    assert.equal(s.stats.refused, 1);
    assert.equal(s.stats.skipped, 0);
  });

  test('caughtUp past what the engine still has (it lost its tail) ends false, not never', async () => {
    const { s, engine } = sequencer([], 20, { epoch: 'e1', offset: 5 });
    s.offer(pub(1));
    engine.offset = 2;
    const caught = await Promise.race([s.caughtUp('c', 'e1', 5), sleep(500).then(() => 'hung')]);
    assert.equal(caught, false);
  });

  test('caughtUp: at once when delivered that far or unknown; else after the missing offsets were read', async () => {
    const { s, delivered } = sequencer([pub(2), pub(3)]);
    assert.equal(await s.caughtUp('new', 'e1', 10), true);
    assert.deepEqual(s.seen('new'), { epoch: 'e1', offset: 10 });
    s.offer(pub(1));
    assert.equal(await s.caughtUp('c', 'e1', 3), true);
    assert.deepEqual(delivered, ['e1:1', 'e1:2', 'e1:3']);
    assert.equal(await s.caughtUp('c', 'e9', 3), true, 'another epoch: the channel starts over there');
    assert.equal(await s.caughtUp('c', 'e1', 3), false, 'a replaced epoch is stale');
  });
});
