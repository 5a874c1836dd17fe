import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Message } from '../src/outbound.js';
import type { Subscriber } from '../src/subscriber.js';
import { TopicIndex } from '../src/topic-index.js';
import { subscribersOf } from './topic-index-reading.js';
import { Rng } from '@pulse/protocol/test/prng';
import { at } from '@pulse/protocol/test/element';

/** The reference: MQTT topic matching, written as plainly as possible. */
function naiveMatches(filter: string, channel: string): boolean {
  const f = filter.split('/');
  const c = channel.split('/');
  if (channel.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true; // also matches the parent level: `a/#` matches `a`
    if (i >= c.length) return false;
    if (f[i] !== '+' && f[i] !== c[i]) return false;
  }
  return f.length === c.length;
}

const LEVELS = ['a', 'b', 'c', 'dd', ''];

function randomLevel(rand: () => number): string {
  return at(LEVELS, rand() % LEVELS.length);
}

function randomChannel(rand: () => number): string {
  const depth = 1 + (rand() % 4);
  const levels: string[] = [];
  for (let i = 0; i < depth; i++) levels.push(randomLevel(rand));
  const r = rand() % 10;
  if (r === 0) levels[0] = '$SYS';
  else if (r === 1) levels[0] = '$x';
  return levels.join('/');
}

function randomFilter(rand: () => number): string {
  const depth = 1 + (rand() % 4);
  const levels: string[] = [];
  for (let i = 0; i < depth; i++) {
    const r = rand() % 10;
    levels.push(r < 3 ? '+' : randomLevel(rand));
  }
  if (rand() % 4 === 0) levels.push('#');
  else if (rand() % 12 === 0) levels[depth - 1] = '#';
  if (rand() % 10 === 0) levels[0] = '$SYS';
  return levels.join('/');
}

function run(seed: number, operations: number): void {
  const rng = new Rng(seed);
  const rand = () => rng.u32();
  const index = new TopicIndex();
  const subscribers: Subscriber[] = [];
  for (let i = 0; i < 10; i++) subscribers.push({ id: `s${i}`, deliver(_m: Message) {} });
  /** The reference state: filter -> its subscribers. */
  const model = new Map<string, Set<Subscriber>>();
  const pairs: [string, Subscriber][] = [];

  const check = (channel: string) => {
    const actual = subscribersOf(index, channel);
    const ids = actual.map((s) => s.id);
    assert.equal(new Set(ids).size, ids.length, `seed ${seed}: duplicates for ${channel}: ${ids}`);
    const expected = new Set<string>();
    for (const [filter, subs] of model) {
      if (naiveMatches(filter, channel)) for (const s of subs) expected.add(s.id);
    }
    assert.deepEqual(
      ids.sort(),
      [...expected].sort(),
      `seed ${seed}: subscribersOf(${JSON.stringify(channel)})`,
    );
  };

  for (let op = 0; op < operations; op++) {
    const r = rand() % 10;
    if (r < 3 || pairs.length === 0) {
      // Add, keeping the broker's contract: a subscriber holds a filter at most once.
      const filter = randomFilter(rand);
      const s = at(subscribers, rand() % subscribers.length);
      let set = model.get(filter);
      if (set?.has(s)) continue;
      if (!set) {
        set = new Set();
        model.set(filter, set);
      }
      set.add(s);
      pairs.push([filter, s]);
      index.add(filter, s);
    } else if (r < 5) {
      const i = rand() % pairs.length;
      const [filter, s] = at(pairs, i);
      // Swap-remove: the last pair takes the removed one's place (unless it was the last).
      const last = at(pairs, pairs.length - 1);
      pairs.pop();
      if (i < pairs.length) pairs[i] = last;
      const set = model.get(filter)!;
      set.delete(s);
      if (set.size === 0) model.delete(filter);
      index.remove(filter, s);
    } else {
      check(randomChannel(rand));
    }
    assert.equal(index.filterCount, model.size, `seed ${seed}: filterCount after op ${op}`);
  }

  // Drain everything: the index must end up empty and match nothing.
  for (const [filter, s] of pairs) index.remove(filter, s);
  model.clear();
  assert.equal(index.filterCount, 0);
  for (let i = 0; i < 200; i++) check(randomChannel(rand));
}

describe('TopicIndex vs a naive MQTT matcher', () => {
  it('the reference matcher itself follows MQTT', () => {
    assert.ok(naiveMatches('a/#', 'a'));
    assert.ok(naiveMatches('a/#', 'a/b/c'));
    assert.ok(naiveMatches('#', 'a'));
    assert.ok(!naiveMatches('#', '$SYS/a'));
    assert.ok(!naiveMatches('+/a', '$SYS/a'));
    assert.ok(naiveMatches('$SYS/#', '$SYS'));
    assert.ok(naiveMatches('a/+', 'a/'));
    assert.ok(!naiveMatches('a/+', 'a'));
    assert.ok(!naiveMatches('a/+', 'a/b/c'));
    assert.ok(naiveMatches('+/+', '/'));
  });

  for (const seed of [1, 42, 0xdeadbeef, 20240601, 7]) {
    it(`agrees over random adds, removes and lookups (seed ${seed})`, () => {
      run(seed, 4000);
    });
  }
});
