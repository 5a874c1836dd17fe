import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { filterMatches } from '@pulse/protocol';
import { Publication } from '../src/outbound.js';
import { MemoryRetainedStore, PAUSED, type RetainedCursor } from '../src/retained-store.js';
import { Rng } from '@pulse/protocol/test/prng';
import { at } from '@pulse/protocol/test/element';

const LEVELS = ['a', 'b', 'cc', '', '$s'];
const FILTER_LEVELS = ['a', 'b', 'cc', '', '$s', '+', '+', '#'];

function randomTopic(rand: () => number): string {
  const depth = 1 + (rand() % 4);
  return Array.from({ length: depth }, () => LEVELS[rand() % LEVELS.length]).join('/');
}

function randomFilter(rand: () => number): string {
  const depth = 1 + (rand() % 4);
  const levels: string[] = [];
  for (let i = 0; i < depth; i++) {
    const level = at(FILTER_LEVELS, rand() % FILTER_LEVELS.length);
    levels.push(level);
    if (level === '#') break;
  }
  return levels.join('/');
}

const message = (channel: string, payload = 'x', expiresAt?: number): Publication =>
  new Publication({ channel, payload: Buffer.from(payload), qos: 1, retain: true, expiresAt });

const unlimited = { maxMessages: 1_000_000, maxBytes: Number.MAX_SAFE_INTEGER };

/** Every message a cursor yields, with a small budget per call so that it pauses often. */
function drain(cursor: RetainedCursor, nowMs = Date.now()): string[] {
  const out: string[] = [];
  for (;;) {
    const next = cursor.next({ steps: 3 }, nowMs);
    if (next === undefined) return out;
    if (next !== PAUSED) out.push(next.channel);
  }
}

describe('MemoryRetainedStore', () => {
  it('a cursor yields exactly the topics filterMatches accepts (seeded, with clears)', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const rng = new Rng(seed);
      const rand = () => rng.u32();
      const store = new MemoryRetainedStore(unlimited);
      const held = new Set<string>();
      for (let i = 0; i < 60; i++) {
        const topic = randomTopic(rand);
        if (rand() % 4 === 0) {
          store.set(message(topic, ''));
          held.delete(topic);
        } else {
          store.set(message(topic));
          held.add(topic);
        }
      }
      assert.equal(store.size, held.size);
      for (let i = 0; i < 40; i++) {
        const filter = randomFilter(rand);
        const expected = [...held].filter((t) => filterMatches(filter, t)).sort();
        assert.deepEqual(drain(store.cursor(filter)).sort(), expected, `seed ${seed}, filter ${filter}`);
      }
    }
  });

  it('walks only the branches a filter can match', () => {
    const store = new MemoryRetainedStore(unlimited);
    for (let i = 0; i < 20_000; i++) store.set(message(`fleet/${i}/status`));
    const budget = { steps: 1_000_000 };
    assert.equal(store.cursor('nomatch/+/#').next(budget, Date.now()), undefined);
    assert.ok(
      1_000_000 - budget.steps <= 2,
      `a non-matching filter visited ${1_000_000 - budget.steps} nodes`,
    );
    const one = { steps: 1_000_000 };
    assert.equal(
      (store.cursor('fleet/77/status').next(one, Date.now()) as Publication).channel,
      'fleet/77/status',
    );
    assert.ok(1_000_000 - one.steps <= 4);
  });

  it('topics and filters thousands of levels deep: no recursion', () => {
    const store = new MemoryRetainedStore(unlimited);
    const deep = Array.from({ length: 20_000 }, (_, i) => `l${i % 7}`).join('/');
    store.set(message(deep));
    assert.deepEqual(drain(store.cursor('#')), [deep]);
    assert.deepEqual(drain(store.cursor(deep.replace(/l\d/g, '+'))), [deep]);
    store.set(message(deep, ''));
    assert.equal(store.size, 0);
    assert.deepEqual(drain(store.cursor('#')), []);
  });

  it('a cursor skips what was set after it began (it went out live) and expired messages', () => {
    const store = new MemoryRetainedStore(unlimited);
    store.set(message('t/old'));
    store.set(message('t/replaced'));
    store.set(message('t/expired', 'x', Date.now() - 1));
    const cursor = store.cursor('t/#');
    store.set(message('t/new'));
    store.set(message('t/replaced', 'again'));
    assert.deepEqual(drain(cursor), ['t/old']);
  });

  it('maxBytes: refuses what would go past it, replacing with fewer bytes and clearing free them', () => {
    const store = new MemoryRetainedStore({ maxMessages: 100, maxBytes: 100 });
    assert.equal(store.set(message('a', 'x'.repeat(60))), 'stored');
    assert.equal(store.bytes, 61);
    assert.equal(store.set(message('b', 'x'.repeat(40))), 'over_bytes');
    assert.equal(
      store.set(message('a', 'x'.repeat(100))),
      'over_bytes',
      'a larger replacement that does not fit',
    );
    assert.equal(store.set(message('a', 'x'.repeat(20))), 'stored');
    assert.equal(store.set(message('b', 'x'.repeat(40))), 'stored');
    assert.equal(store.bytes, 62);
    assert.equal(store.set(message('$SYS/x', 'x'.repeat(500))), 'stored', '$ topics do not count');
    assert.equal(store.bytes, 62);
    store.set(message('a', ''));
    assert.equal(store.bytes, 41);
  });
});
