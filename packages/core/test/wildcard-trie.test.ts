import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { filterMatches } from '@pulse/protocol';
import type { Message } from '../src/outbound.js';
import type { Subscriber } from '../src/subscriber.js';
import { WildcardTrie } from '../src/wildcard-trie.js';
import { at } from '@pulse/protocol/test/element';

function sub(id: string): Subscriber {
  return { id, deliver(_m: Message) {} };
}

/** Ids visited by `match`, in order, repeats kept. */
function visits(trie: WildcardTrie, channel: string): string[] {
  const out: string[] = [];
  trie.match(channel, (s) => out.push(s.id));
  return out;
}

function ids(trie: WildcardTrie, channel: string): string[] {
  return visits(trie, channel).sort();
}

describe('WildcardTrie', () => {
  it('matches + against exactly one level, at every position', () => {
    const trie = new WildcardTrie();
    trie.add('+/b/c', sub('first'));
    trie.add('a/+/c', sub('middle'));
    trie.add('a/b/+', sub('last'));
    trie.add('+/+/+', sub('all'));
    assert.deepEqual(ids(trie, 'a/b/c'), ['all', 'first', 'last', 'middle']);
    assert.deepEqual(ids(trie, 'x/b/c'), ['all', 'first']);
    assert.deepEqual(ids(trie, 'a/x/c'), ['all', 'middle']);
    assert.deepEqual(ids(trie, 'a/b/x'), ['all', 'last']);
    assert.deepEqual(ids(trie, 'a/b'), []);
    assert.deepEqual(ids(trie, 'a/b/c/d'), []);
  });

  it('matches + against an empty level', () => {
    const trie = new WildcardTrie();
    trie.add('a/+/c', sub('s'));
    assert.deepEqual(ids(trie, 'a//c'), ['s']);
    trie.add('+', sub('t'));
    assert.deepEqual(ids(trie, ''), ['t']);
  });

  it('matches # against the parent level and any number of levels below', () => {
    const trie = new WildcardTrie();
    trie.add('a/#', sub('s'));
    assert.deepEqual(ids(trie, 'a'), ['s']);
    assert.deepEqual(ids(trie, 'a/b'), ['s']);
    assert.deepEqual(ids(trie, 'a/b/c/d'), ['s']);
    assert.deepEqual(ids(trie, 'b'), []);
    assert.deepEqual(ids(trie, 'ab'), []);
  });

  it('matches a lone # against every non-$ channel', () => {
    const trie = new WildcardTrie();
    trie.add('#', sub('s'));
    for (const c of ['a', 'a/b', '/x', 'x/']) assert.deepEqual(ids(trie, c), ['s'], c);
  });

  it('does not match $ channels with a wildcard in the first level (MQTT 4.7.2)', () => {
    const trie = new WildcardTrie();
    trie.add('#', sub('hash'));
    trie.add('+/clients', sub('plus'));
    trie.add('+/#', sub('plushash'));
    trie.add('$SYS/#', sub('sys'));
    trie.add('$SYS/+', sub('sysplus'));
    assert.deepEqual(ids(trie, '$SYS/clients'), ['sys', 'sysplus']);
    assert.deepEqual(ids(trie, '$SYS'), ['sys']);
    assert.deepEqual(ids(trie, 'foo/clients'), ['hash', 'plus', 'plushash']);
  });

  it('visits a subscriber once per matching filter', () => {
    const trie = new WildcardTrie();
    const s = sub('s');
    trie.add('a/+', s);
    trie.add('a/#', s);
    trie.add('+/b', s);
    assert.deepEqual(visits(trie, 'a/b'), ['s', 's', 's']);
  });

  it('counts distinct (filter, subscriber) pairs', () => {
    const trie = new WildcardTrie();
    const s = sub('s');
    const t = sub('t');
    trie.add('a/+', s);
    trie.add('a/+', s);
    assert.equal(trie.size, 1);
    trie.add('a/+', t);
    trie.add('a/#', s);
    assert.equal(trie.size, 3);
    trie.remove('a/+', s);
    assert.equal(trie.size, 2);
    trie.remove('a/+', s);
    trie.remove('x/+', s);
    trie.remove('a/+/b', s);
    assert.equal(trie.size, 2);
    trie.remove('a/#', s);
    trie.remove('a/+', t);
    assert.equal(trie.size, 0);
  });

  it('removing one filter leaves overlapping filters intact', () => {
    const trie = new WildcardTrie();
    const s = sub('s');
    trie.add('a/#', s);
    trie.add('a/+', s);
    trie.add('a/+/c', s);
    trie.add('a/b/+', s);
    trie.remove('a/+', s);
    assert.deepEqual(visits(trie, 'a/b'), ['s']);
    assert.deepEqual(visits(trie, 'a/b/c').length, 3);
    trie.remove('a/#', s);
    assert.deepEqual(visits(trie, 'a/b'), []);
    assert.deepEqual(visits(trie, 'a/b/c'), ['s', 's']);
    trie.remove('a/b/+', s);
    assert.deepEqual(visits(trie, 'a/b/c'), ['s']);
    assert.deepEqual(visits(trie, 'a/x/c'), ['s']);
  });

  it('prunes emptied nodes: after removing everything nothing matches and re-adding works', () => {
    const trie = new WildcardTrie();
    const subs = [sub('a'), sub('b'), sub('c')];
    const filters = ['#', '+', 'a/#', 'a/+/c', '+/+/#', 'x/y/z/+', '$SYS/#', 'a/b/+'];
    for (let round = 0; round < 3; round++) {
      for (const f of filters) for (const s of subs) trie.add(f, s);
      assert.equal(trie.size, filters.length * subs.length);
      assert.ok(visits(trie, 'a/b/c').length > 0);
      // Remove in a different order from insertion to exercise partial pruning.
      for (const f of [...filters].reverse()) for (const s of subs) trie.remove(f, s);
      assert.equal(trie.size, 0);
      for (const c of ['a', 'a/b', 'a/b/c', 'x/y/z/w', '$SYS/x', 'q'])
        assert.deepEqual(visits(trie, c), [], c);
    }
  });

  it('agrees with filterMatches on deep filters, and 100,000 levels do not overflow the stack', () => {
    // Seeded: filters and channels of up to 300 levels over a tiny alphabet, so many match.
    let seed = 9;
    const next = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    const level = () => ['a', 'b', ''][next(3)];
    const filters: string[] = [];
    const trie = new WildcardTrie();
    for (let i = 0; i < 200; i++) {
      const depth = 1 + next(300);
      const levels = Array.from({ length: depth }, () => (next(3) === 0 ? '+' : level()));
      if (next(4) === 0) levels[depth - 1] = '#';
      const filter = levels.join('/');
      filters.push(filter);
      trie.add(filter, sub(String(i)));
    }
    let matched = 0;
    for (let c = 0; c < 300; c++) {
      // A channel made from one filter (wildcards filled in), sometimes with one level changed.
      const levels = at(filters, next(filters.length))
        .split('/')
        .flatMap((l) => (l === '+' ? [level()] : l === '#' ? Array.from({ length: next(3) }, level) : [l]));
      if (next(3) === 0 && levels.length > 0) levels[next(levels.length)] = 'z';
      const channel = levels.length === 0 ? 'a' : levels.join('/');
      const expected = filters.flatMap((f, i) => (filterMatches(f, channel) ? [String(i)] : [])).sort();
      assert.deepEqual(ids(trie, channel), expected, channel);
      matched += expected.length;
    }
    assert.ok(matched > 300, `only ${matched} matches: the channels test too little`);
    const deep = new WildcardTrie();
    deep.add(Array.from({ length: 100_000 }, () => '+').join('/'), sub('deep'));
    assert.deepEqual(visits(deep, Array.from({ length: 100_000 }, () => 'x').join('/')), ['deep']);
  });
});
