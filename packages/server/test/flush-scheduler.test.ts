import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlushScheduler, type Flushable } from '../src/transport/flush-scheduler.js';

/** A connection that records when it was flushed, in the order of `log`. */
function connection(name: string, log: string[], dirtyIn: FlushScheduler): Flushable & { queue(): void } {
  let dirty = false;
  return {
    queue() {
      if (dirty) return;
      dirty = true;
      dirtyIn.markDirty(this);
    },
    flush() {
      dirty = false;
      log.push(`write ${name}`);
    },
    fail(_where, err) {
      log.push(`fail ${name}: ${(err as Error).message}`);
    },
  };
}

const nextImmediate = () => new Promise<void>((resolve) => setImmediate(resolve));

test("flush scheduler: the turn's first read is written as soon as it is handled, before setImmediate", async () => {
  const log: string[] = [];
  const scheduler = new FlushScheduler(() => {});
  scheduler.beforeWrite = () => log.push('commit');
  const a = connection('a', log, scheduler);
  const b = connection('b', log, scheduler);
  setImmediate(() => log.push('immediate scheduled before the read'));
  scheduler.beginInput();
  a.queue();
  b.queue();
  assert.deepEqual(log, [], 'nothing is written while the read is being handled');
  scheduler.endInput();
  assert.deepEqual(log, ['commit', 'write a', 'write b'], 'one commit, then one write per connection');
  await nextImmediate();
  assert.deepEqual(log.slice(3), ['immediate scheduled before the read'], 'the turn end finds nothing left');
});

test('flush scheduler: later reads of the same turn are coalesced at its end, one write per connection', async () => {
  const log: string[] = [];
  const scheduler = new FlushScheduler(() => {});
  const subscriber = connection('subscriber', log, scheduler);
  const publisher = connection('publisher', log, scheduler);
  scheduler.beginInput();
  subscriber.queue();
  scheduler.endInput();
  assert.deepEqual(log, ['write subscriber']);
  for (let i = 0; i < 5; i++) {
    // Five more publishers' reads in the same turn, each delivering to the subscriber.
    scheduler.beginInput();
    subscriber.queue();
    if (i === 0) publisher.queue();
    scheduler.endInput();
  }
  assert.deepEqual(log, ['write subscriber'], 'the rest of the turn waits for its end');
  await nextImmediate();
  assert.deepEqual(log, ['write subscriber', 'write subscriber', 'write publisher']);
  // The next turn's first read is written at once again.
  scheduler.beginInput();
  subscriber.queue();
  scheduler.endInput();
  assert.deepEqual(log.length, 4, 'a new turn writes at the end of its first read');
});

test('flush scheduler: writes outside any read (timers, callbacks) wait for the end of the turn', async () => {
  const log: string[] = [];
  const scheduler = new FlushScheduler(() => {});
  const a = connection('a', log, scheduler);
  a.queue();
  assert.deepEqual(log, []);
  await nextImmediate();
  assert.deepEqual(log, ['write a']);
});

test('flush scheduler: nested reads are written when the outermost ends; a failing flush closes only its connection', () => {
  const log: string[] = [];
  const scheduler = new FlushScheduler(() => {});
  const a = connection('a', log, scheduler);
  const broken: Flushable = {
    flush() {
      throw new Error('socket gone');
    },
    fail(_where, err) {
      log.push(`fail broken: ${(err as Error).message}`);
    },
  };
  scheduler.beginInput();
  scheduler.beginInput();
  scheduler.markDirty(broken);
  a.queue();
  scheduler.endInput();
  assert.deepEqual(log, [], 'the inner end writes nothing');
  scheduler.endInput();
  assert.deepEqual(log, ['fail broken: socket gone', 'write a']);
});

test("flush scheduler: each publication's latency is observed once, when its batch is written", async () => {
  const observed: number[] = [];
  const scheduler = new FlushScheduler((ms) => observed.push(ms));
  const log: string[] = [];
  const a = connection('a', log, scheduler);
  scheduler.beginInput();
  a.queue();
  scheduler.notePublication({ receivedAt: performance.now() - 5 } as never);
  scheduler.endInput();
  assert.equal(observed.length, 1);
  assert.ok((observed[0] as number) >= 5, `latency ${observed[0]} ms counts from receipt`);
  await nextImmediate();
  assert.equal(observed.length, 1, 'not observed again at the end of the turn');
});
