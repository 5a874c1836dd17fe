import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Message } from '../src/outbound.js';
import type { Subscriber } from '../src/subscriber.js';
import { TopicIndex } from '../src/topic-index.js';
import { exactChannels, subscribersOf, wildcardFilters } from './topic-index-reading.js';

function sub(id: string): Subscriber {
  return { id, deliver(_m: Message) {} };
}

/** Ids of the subscribers of `channel`, sorted; fails if one appears twice. */
function of(index: TopicIndex, channel: string): string[] {
  const list = subscribersOf(index, channel).map((s) => s.id);
  assert.equal(new Set(list).size, list.length, `duplicate subscriber for ${channel}: ${list}`);
  return list.sort();
}

describe('TopicIndex: exact filters', () => {
  it('finds exact subscribers and nothing else', () => {
    const index = new TopicIndex();
    index.add('a/b', sub('s'));
    index.add('a/b', sub('t'));
    index.add('a', sub('u'));
    assert.deepEqual(of(index, 'a/b'), ['s', 't']);
    assert.deepEqual(of(index, 'a'), ['u']);
    assert.deepEqual(of(index, 'a/b/c'), []);
    assert.deepEqual(of(index, 'x'), []);
    assert.equal(index.filterCount, 2);
    assert.ok(index.hasFilter('a/b'));
    assert.ok(!index.hasFilter('a/c'));
    assert.deepEqual(exactChannels(index).sort(), ['a', 'a/b']);
    assert.deepEqual(wildcardFilters(index), []);
  });

  it('treats + and # inside a level as literal characters', () => {
    const index = new TopicIndex();
    index.add('a+/b#', sub('s'));
    assert.deepEqual(of(index, 'a+/b#'), ['s']);
    assert.deepEqual(of(index, 'ax/b'), []);
    assert.deepEqual(exactChannels(index), ['a+/b#']);
  });

  it('adding the same subscriber twice is idempotent', () => {
    const index = new TopicIndex();
    const s = sub('s');
    index.add('a', s);
    index.add('a', s);
    assert.deepEqual(of(index, 'a'), ['s']);
    index.remove('a', s);
    assert.deepEqual(of(index, 'a'), []);
    assert.equal(index.filterCount, 0);
  });

  it('drops a filter when its last subscriber leaves; removing unknowns is harmless', () => {
    const index = new TopicIndex();
    const s = sub('s');
    const t = sub('t');
    index.add('a', s);
    index.add('a', t);
    index.remove('a', s);
    assert.equal(index.filterCount, 1);
    index.remove('a', s);
    index.remove('nope', s);
    assert.deepEqual(of(index, 'a'), ['t']);
    index.remove('a', t);
    assert.equal(index.filterCount, 0);
    assert.ok(!index.hasFilter('a'));
    assert.deepEqual(exactChannels(index), []);
  });
});

describe('TopicIndex: wildcard filters', () => {
  it('matches + at each position', () => {
    const index = new TopicIndex();
    index.add('+/b/c', sub('p0'));
    index.add('a/+/c', sub('p1'));
    index.add('a/b/+', sub('p2'));
    assert.deepEqual(of(index, 'a/b/c'), ['p0', 'p1', 'p2']);
    assert.deepEqual(of(index, 'z/b/c'), ['p0']);
    assert.deepEqual(of(index, 'a/z/c'), ['p1']);
    assert.deepEqual(of(index, 'a/b/z'), ['p2']);
    assert.deepEqual(of(index, 'a/b'), []);
    assert.deepEqual(of(index, 'a/b/c/d'), []);
    assert.equal(index.filterCount, 3);
    assert.deepEqual(wildcardFilters(index).sort(), ['+/b/c', 'a/+/c', 'a/b/+']);
  });

  it('# matches the parent level and everything below it', () => {
    const index = new TopicIndex();
    index.add('a/#', sub('s'));
    assert.deepEqual(of(index, 'a'), ['s']);
    assert.deepEqual(of(index, 'a/b'), ['s']);
    assert.deepEqual(of(index, 'a/b/c'), ['s']);
    assert.deepEqual(of(index, 'b/a'), []);
    assert.deepEqual(of(index, 'ab'), []);
  });

  it('first-level wildcards do not match $ channels; $SYS filters do', () => {
    const index = new TopicIndex();
    index.add('#', sub('hash'));
    index.add('+/load', sub('plus'));
    index.add('$SYS/#', sub('sys'));
    index.add('$SYS/load', sub('exact'));
    assert.deepEqual(of(index, '$SYS/load'), ['exact', 'sys']);
    assert.deepEqual(of(index, '$SYS'), ['sys']);
    assert.deepEqual(of(index, 'cpu/load'), ['hash', 'plus']);
  });

  it('delivers once to a subscriber matching through several filters', () => {
    const index = new TopicIndex();
    const s = sub('s');
    const t = sub('t');
    for (const f of ['a/b', 'a/+', 'a/#', '+/b', '#', '+/+']) index.add(f, s);
    index.add('a/b', t);
    index.add('#', t);
    assert.deepEqual(of(index, 'a/b'), ['s', 't']);
    assert.deepEqual(of(index, 'a'), ['s', 't']);
    assert.equal(index.filterCount, 6);
  });

  it('counts a wildcard filter once however many subscribers hold it', () => {
    const index = new TopicIndex();
    const s = sub('s');
    const t = sub('t');
    index.add('a/+', s);
    index.add('a/+', t);
    assert.equal(index.filterCount, 1);
    index.remove('a/+', s);
    assert.equal(index.filterCount, 1);
    assert.ok(index.hasFilter('a/+'));
    assert.deepEqual(of(index, 'a/x'), ['t']);
    index.remove('a/+', t);
    assert.equal(index.filterCount, 0);
    assert.ok(!index.hasFilter('a/+'));
    assert.deepEqual(of(index, 'a/x'), []);
  });

  it('prunes: after removing every filter nothing matches and filterCount is 0', () => {
    const index = new TopicIndex();
    const subs = ['a', 'b', 'c'].map(sub);
    const filters = ['#', '+', 'a/#', 'a/+/c', '+/+/#', 'a/b/c', 'a/b', 'x/+/y/#', '$SYS/#'];
    const channels = ['a', 'a/b', 'a/b/c', 'x/q/y', 'x/q/y/z', '$SYS/x', 'other'];
    for (let round = 0; round < 3; round++) {
      for (const f of filters) for (const s of subs) index.add(f, s);
      assert.equal(index.filterCount, filters.length);
      for (const c of channels) assert.deepEqual(of(index, c), ['a', 'b', 'c'], c);
      for (const s of subs) for (const f of [...filters].reverse()) index.remove(f, s);
      assert.equal(index.filterCount, 0);
      for (const c of channels) assert.deepEqual(of(index, c), [], c);
    }
  });
});

describe('TopicIndex: match cache invalidation', () => {
  it('sees a new exact subscriber on an already-looked-up channel', () => {
    const index = new TopicIndex();
    index.add('a/+', sub('w'));
    assert.deepEqual(of(index, 'a/b'), ['w']);
    index.add('a/b', sub('e'));
    assert.deepEqual(of(index, 'a/b'), ['e', 'w']);
  });

  it('forgets a removed exact subscriber', () => {
    const index = new TopicIndex();
    const e = sub('e');
    index.add('a/+', sub('w'));
    index.add('a/b', e);
    assert.deepEqual(of(index, 'a/b'), ['e', 'w']);
    index.remove('a/b', e);
    assert.deepEqual(of(index, 'a/b'), ['w']);
  });

  it('sees a new wildcard subscriber on already-looked-up channels', () => {
    const index = new TopicIndex();
    index.add('a/b', sub('e'));
    index.add('z/#', sub('z'));
    assert.deepEqual(of(index, 'a/b'), ['e']);
    assert.deepEqual(of(index, 'a/c'), []);
    index.add('a/+', sub('w'));
    assert.deepEqual(of(index, 'a/b'), ['e', 'w']);
    assert.deepEqual(of(index, 'a/c'), ['w']);
  });

  it('forgets a removed wildcard subscriber', () => {
    const index = new TopicIndex();
    const w = sub('w');
    index.add('a/b', sub('e'));
    index.add('a/+', w);
    index.add('#', sub('h'));
    assert.deepEqual(of(index, 'a/b'), ['e', 'h', 'w']);
    assert.deepEqual(of(index, 'a/c'), ['h', 'w']);
    index.remove('a/+', w);
    assert.deepEqual(of(index, 'a/b'), ['e', 'h']);
    assert.deepEqual(of(index, 'a/c'), ['h']);
  });

  it('switches between the exact fast path and the wildcard path correctly', () => {
    const index = new TopicIndex();
    const e = sub('e');
    const w = sub('w');
    index.add('a', e);
    assert.deepEqual(of(index, 'a'), ['e']);
    index.add('#', w);
    assert.deepEqual(of(index, 'a'), ['e', 'w']);
    index.remove('#', w);
    assert.deepEqual(of(index, 'a'), ['e']);
    index.remove('a', e);
    index.add('+', w);
    assert.deepEqual(of(index, 'a'), ['w']);
    index.add('a', e);
    assert.deepEqual(of(index, 'a'), ['e', 'w']);
  });

  it('stays correct when many channels are looked up (cache overflow)', () => {
    const index = new TopicIndex();
    index.add('c/+', sub('w'));
    for (let i = 0; i < 5000; i++) assert.equal(subscribersOf(index, `c/${i}`).length, 1);
    index.add('c/7', sub('e'));
    assert.deepEqual(of(index, 'c/7'), ['e', 'w']);
    assert.deepEqual(of(index, 'c/4999'), ['w']);
  });
});

describe('TopicIndex: the match cache is bounded in bytes too', () => {
  it('does not keep 64 KiB channel names: 1,000 of them leave the heap as it was', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const index = new TopicIndex();
    index.add('#', sub('all'));
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 1000; i++) {
      // A fresh flat string each time, as a socket read gives: 64 KiB that the cache could pin.
      const channel = `${i}/${'x'.repeat(65_000)}`.split('').join('');
      assert.deepEqual(of(index, channel), ['all']);
    }
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    assert.ok(grown < 16 * 1024 * 1024, `heap grew by ${grown} bytes (65 MB if the names were cached)`);
  });
});
