import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Broker } from '../src/broker.js';
import { ChannelHistory, type StreamPosition, forgetStreams } from '../src/history/channel-history.js';
import { type HistoryRule, HistoryRules, historyPatternProblem } from '../src/history/history-rules.js';
import { type Message, Publication } from '../src/outbound.js';
import { MemoryStore } from '../src/store/memory-store.js';
import type { HistoryRecord, StreamRecord } from '../src/store/records.js';
import type { Store } from '../src/store/store.js';
import type { Subscriber } from '../src/subscriber.js';
import { at } from '@pulse/protocol/test/element';

const rule = (pattern: string, size = 100, ttlMs = 0): HistoryRule => ({ pattern, size, ttlMs });
const pub = (channel: string, text = '') => new Publication({ channel, payload: Buffer.from(text) });
const texts = (ps: Publication[]) => ps.map((p) => Buffer.from(p.payload).toString());
const offsets = (ps: Publication[]) => ps.map((p) => p.offset);

/** A MemoryStore that also records the calls made to it. */
class SpyStore extends MemoryStore {
  readonly trims: [string, number][] = [];
  readonly streamsPut: StreamRecord[] = [];
  readonly appended: HistoryRecord[] = [];
  readonly deleted: string[] = [];
  override deleteStream(channel: string): void {
    this.deleted.push(channel);
    super.deleteStream(channel);
  }
  override putStream(record: StreamRecord): void {
    this.streamsPut.push({ ...record });
    super.putStream(record);
  }
  override appendHistory(record: HistoryRecord): void {
    this.appended.push(record);
    super.appendHistory(record);
  }
  override trimHistory(channel: string, fromOffset: number): void {
    this.trims.push([channel, fromOffset]);
    super.trimHistory(channel, fromOffset);
  }
}

function history(rules: HistoryRule[], store: Store = new MemoryStore(), maxStreams = 1000) {
  return new ChannelHistory(rules, store, { maxStreams });
}

/** Publishes `n` messages `<prefix>1..n` on `channel` at `now`. */
/** The `n` (at least 1) publications appended, oldest first. */
function publishN(
  h: ChannelHistory,
  channel: string,
  n: number,
  now = 1000,
  prefix = 'm',
): [Publication, ...Publication[]] {
  const first = pub(channel, `${prefix}1`);
  h.append(first, now);
  const out: [Publication, ...Publication[]] = [first];
  for (let i = 2; i <= n; i++) {
    const p = pub(channel, `${prefix}${i}`);
    h.append(p, now);
    out.push(p);
  }
  return out;
}

describe('history rules', () => {
  it('match MQTT wildcards, a trailing *, and exact names', () => {
    const rules = new HistoryRules([rule('sensors/+/temp'), rule('logs/#'), rule('chat:*'), rule('news')]);
    assert.equal(rules.ruleFor('sensors/a/temp')?.pattern, 'sensors/+/temp');
    assert.equal(rules.ruleFor('sensors/a/b/temp'), undefined);
    assert.equal(rules.ruleFor('logs')?.pattern, 'logs/#');
    assert.equal(rules.ruleFor('logs/x/y')?.pattern, 'logs/#');
    assert.equal(rules.ruleFor('chat:lobby')?.pattern, 'chat:*');
    assert.equal(rules.ruleFor('chat:')?.pattern, 'chat:*');
    assert.equal(rules.ruleFor('chat'), undefined);
    assert.equal(rules.ruleFor('news')?.pattern, 'news');
    assert.equal(rules.ruleFor('news/eu'), undefined);
    assert.equal(rules.ruleFor('other'), undefined);
  });

  it('first matching rule wins, in config order', () => {
    const rules = new HistoryRules([rule('chat:vip', 5), rule('chat:*', 50), rule('#', 500)]);
    assert.equal(rules.ruleFor('chat:vip')?.size, 5);
    assert.equal(rules.ruleFor('chat:x')?.size, 50);
    assert.equal(rules.ruleFor('a/b')?.size, 500);
    // Cached answers stay the same.
    assert.equal(rules.ruleFor('chat:vip')?.size, 5);
    assert.equal(rules.ruleFor('a/b')?.size, 500);
  });

  it('system channels and wildcard filters never keep history', () => {
    const rules = new HistoryRules([rule('#'), rule('*')]);
    assert.equal(rules.ruleFor('$SYS/broker/uptime'), undefined);
    assert.equal(rules.ruleFor('$share/g/a'), undefined);
    assert.equal(rules.ruleFor('a/+'), undefined);
    assert.equal(rules.ruleFor('a/#'), undefined);
    assert.equal(rules.ruleFor('a/b')?.pattern, '#');
  });

  it('the rule cache stays bounded and correct', () => {
    const rules = new HistoryRules([rule('a/*')]);
    for (let i = 0; i < 25_000; i++) assert.equal(rules.ruleFor(`a/${i}`)?.pattern, 'a/*');
    assert.equal(rules.ruleFor('b/1'), undefined);
  });

  it('invalid patterns are refused', () => {
    assert.match(historyPatternProblem('a/#/b') ?? '', /"#" only as its last level/);
    assert.match(historyPatternProblem('') ?? '', /1-256/);
    assert.match(historyPatternProblem('$SYS/#') ?? '', /"\$"/);
    assert.match(historyPatternProblem('a/+/*') ?? '', /trailing "\*"/);
    assert.match(historyPatternProblem('a\nb') ?? '', /printable/);
    for (const ok of ['#', '*', 'a/+/b', 'a/#', 'chat:*', 'exact-name', 'a#b']) {
      assert.equal(historyPatternProblem(ok), undefined, ok);
    }
    assert.throws(() => history([rule('a/#/b')]), /a\/#\/b/);
  });
});

describe('ChannelHistory: append', () => {
  it('offsets start at 1, rise by one, share one epoch per channel', () => {
    const h = history([rule('chat:*')]);
    const a = publishN(h, 'chat:a', 3);
    const b = publishN(h, 'chat:b', 2);
    assert.deepEqual(offsets(a), [1, 2, 3]);
    assert.deepEqual(offsets(b), [1, 2]);
    assert.equal(new Set(a.map((p) => p.epoch)).size, 1);
    assert.equal(typeof a[0].epoch, 'string');
    assert.notEqual(a[0].epoch, b[0].epoch);
    assert.deepEqual(h.position('chat:a'), { offset: 3, epoch: a[0].epoch });
    assert.equal(h.streamCount, 2);
    assert.equal(h.entryCount, 5);
  });

  it('channels without a rule are left alone', () => {
    const store = new SpyStore();
    const h = history([rule('chat:*')], store);
    const p = pub('other');
    h.append(p, 1);
    assert.equal(p.offset, undefined);
    assert.equal(p.epoch, undefined);
    assert.equal(h.streamCount, 0);
    assert.equal(store.appended.length, 0);
    assert.equal(h.read('other', {}, 1), undefined);
    assert.equal(h.recover('other', { offset: 0, epoch: 'x' }, 1), undefined);
    assert.equal(h.position('other'), undefined);
  });

  it('journals entries and positions to the store, and trims it by size', () => {
    const store = new SpyStore();
    const h = history([rule('c', 3, 1000)], store);
    const ps = publishN(h, 'c', 5, 10);
    assert.deepEqual(
      store.appended.map((r) => [r.channel, r.offset, r.time, r.expiresAt]),
      [1, 2, 3, 4, 5].map((o) => ['c', o, 10, 1010]),
    );
    assert.equal(at(store.appended, 0).message.payload.toString(), 'm1');
    assert.deepEqual(store.streamsPut.at(-1), { channel: 'c', epoch: ps[0].epoch, offset: 5, updatedAt: 10 });
    assert.equal(store.streamsPut.length, 5, 'one position per append (a new stream is not stored twice)');
    assert.deepEqual(store.trims, [
      ['c', 2],
      ['c', 3],
    ]);
    assert.deepEqual(
      store.load(0).history.map((r) => r.offset),
      [3, 4, 5],
    );
  });

  it('keeps the newest `size` entries', () => {
    const h = history([rule('c', 3)]);
    publishN(h, 'c', 10);
    const page = h.read('c', {}, 1000) as NonNullable<ReturnType<ChannelHistory['read']>>;
    assert.deepEqual(texts(page.publications), ['m8', 'm9', 'm10']);
    assert.deepEqual(offsets(page.publications), [8, 9, 10]);
    assert.equal(page.offset, 10);
    assert.equal(h.entryCount, 3);
  });

  it('ttl expires entries; the stream keeps its position', () => {
    const h = history([rule('c', 100, 500)]);
    publishN(h, 'c', 2, 1000, 'old');
    publishN(h, 'c', 2, 1300, 'new');
    assert.deepEqual(texts(h.read('c', {}, 1499)?.publications ?? []), ['old1', 'old2', 'new1', 'new2']);
    assert.deepEqual(texts(h.read('c', {}, 1500)?.publications ?? []), ['new1', 'new2']);
    h.purge(1800);
    assert.equal(h.entryCount, 0);
    assert.deepEqual(h.read('c', {}, 1800)?.publications, []);
    assert.equal(h.position('c')?.offset, 4);
    const next = pub('c');
    h.append(next, 1900);
    assert.equal(next.offset, 5);
  });
});

describe('ChannelHistory: recover', () => {
  function setup(size = 5, ttlMs = 0) {
    const h = history([rule('c', size, ttlMs)]);
    const ps = publishN(h, 'c', 8, 1000);
    const epoch = ps[0].epoch as string;
    return { h, ps, epoch };
  }

  it('returns exactly the publications after the position', () => {
    const { h, epoch } = setup();
    const r = h.recover('c', { offset: 5, epoch }, 1000);
    assert.equal(r?.recovered, true);
    assert.deepEqual(texts(r?.publications ?? []), ['m6', 'm7', 'm8']);
    assert.deepEqual(offsets(r?.publications ?? []), [6, 7, 8]);
    assert.equal(r?.offset, 8);
    assert.equal(r?.epoch, epoch);
  });

  it('at the exact top: recovered with nothing to send', () => {
    const { h, epoch } = setup();
    assert.deepEqual(h.recover('c', { offset: 8, epoch }, 1000), {
      recovered: true,
      publications: [],
      offset: 8,
      epoch,
    });
  });

  it('the oldest kept entry is the first one still recoverable', () => {
    const { h, epoch } = setup();
    // Kept: 4..8; a client at 3 missed 4..8, all kept.
    const r = h.recover('c', { offset: 3, epoch }, 1000);
    assert.equal(r?.recovered, true);
    assert.deepEqual(offsets(r?.publications ?? []), [4, 5, 6, 7, 8]);
  });

  it('a gap larger than the history is not recovered', () => {
    const { h, epoch } = setup();
    assert.deepEqual(h.recover('c', { offset: 2, epoch }, 1000), {
      recovered: false,
      publications: [],
      offset: 8,
      epoch,
    });
    assert.equal(h.recover('c', { offset: 0, epoch }, 1000)?.recovered, false);
  });

  it('an epoch mismatch is not recovered', () => {
    const { h, epoch } = setup();
    const r = h.recover('c', { offset: 8, epoch: 'other' }, 1000);
    assert.deepEqual(r, { recovered: false, publications: [], offset: 8, epoch });
  });

  it('an offset beyond the top is not recovered', () => {
    const { h, epoch } = setup();
    assert.equal(h.recover('c', { offset: 9, epoch }, 1000)?.recovered, false);
  });

  it('an expired gap is not recovered; an unexpired one is', () => {
    const h = history([rule('c', 100, 1000)]);
    publishN(h, 'c', 3, 1000, 'a');
    const later = publishN(h, 'c', 3, 1500, 'b');
    const epoch = later[0].epoch as string;
    assert.equal(h.recover('c', { offset: 3, epoch }, 2200)?.recovered, true);
    assert.equal(h.recover('c', { offset: 2, epoch }, 2200)?.recovered, false);
    assert.equal(h.recover('c', { offset: 6, epoch }, 9999)?.recovered, true);
    assert.equal(h.recover('c', { offset: 5, epoch }, 9999)?.recovered, false);
  });

  it('a channel with a rule but no stream gets one (with a new epoch): not recovered', () => {
    const store = new SpyStore();
    const h = history([rule('c')], store);
    const r = h.recover('c', { offset: 3, epoch: 'gone' }, 1000);
    assert.equal(r?.recovered, false);
    assert.equal(r?.offset, 0);
    assert.equal(typeof r?.epoch, 'string');
    assert.deepEqual(store.streamsPut, [{ channel: 'c', epoch: r?.epoch, offset: 0, updatedAt: 1000 }]);
    // The stream now exists: the epoch handed out is the one publications get.
    const p = pub('c');
    h.append(p, 1000);
    assert.equal(p.epoch, r?.epoch);
    assert.equal(p.offset, 1);
    assert.equal(h.recover('c', { offset: 0, epoch: r?.epoch as string }, 1000)?.publications[0], p);
  });
});

describe('ChannelHistory: read', () => {
  const setup = () => {
    const h = history([rule('c', 10)]);
    const ps = publishN(h, 'c', 15, 1000);
    return { h, epoch: ps[0].epoch as string };
  };

  it('without since: everything kept, or the newest `limit`', () => {
    const { h, epoch } = setup();
    const all = h.read('c', {}, 1000);
    assert.deepEqual(offsets(all?.publications ?? []), [6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
    assert.equal(all?.offset, 15);
    assert.equal(all?.epoch, epoch);
    assert.deepEqual(offsets(h.read('c', { limit: 3 }, 1000)?.publications ?? []), [13, 14, 15]);
    assert.deepEqual(offsets(h.read('c', { limit: 50 }, 1000)?.publications ?? []).length, 10);
  });

  it('with since: the oldest `limit` after it, so that paging forward works', () => {
    const { h, epoch } = setup();
    const seen: number[] = [];
    let since: StreamPosition = { offset: 7, epoch };
    for (;;) {
      const page = h.read('c', { since, limit: 3 }, 1000);
      const got = offsets(page?.publications ?? []) as number[];
      if (got.length === 0) break;
      seen.push(...got);
      since = { offset: at(got, got.length - 1), epoch };
    }
    assert.deepEqual(seen, [8, 9, 10, 11, 12, 13, 14, 15]);
    assert.deepEqual(
      offsets(h.read('c', { since: { offset: 12, epoch } }, 1000)?.publications ?? []),
      [13, 14, 15],
    );
    assert.deepEqual(h.read('c', { since: { offset: 15, epoch } }, 1000)?.publications, []);
    assert.deepEqual(h.read('c', { since: { offset: 99, epoch } }, 1000)?.publications, []);
    // Older than what is kept: from the oldest kept.
    assert.deepEqual(
      offsets(h.read('c', { since: { offset: 1, epoch }, limit: 2 }, 1000)?.publications ?? []),
      [6, 7],
    );
  });

  it('with since of another epoch: from the oldest kept, and the epoch tells', () => {
    const { h, epoch } = setup();
    const page = h.read('c', { since: { offset: 12, epoch: 'old' }, limit: 2 }, 1000);
    assert.deepEqual(offsets(page?.publications ?? []), [6, 7]);
    assert.equal(page?.epoch, epoch);
  });

  it('a channel with a rule and no publications reads empty with a stable epoch', () => {
    const h = history([rule('c')]);
    const page = h.read('c', {}, 0);
    assert.deepEqual(page?.publications, []);
    assert.equal(page?.offset, 0);
    assert.equal(h.read('c', {}, 0)?.epoch, page?.epoch);
  });
});

describe('ChannelHistory: streams', () => {
  it('past maxStreams the least recently appended stream is evicted; it comes back with a new epoch', () => {
    const store = new SpyStore();
    const h = history([rule('#')], store, 2);
    const a1 = publishN(h, 'a', 2);
    publishN(h, 'b', 1);
    publishN(h, 'a', 1); // a is now the most recent
    publishN(h, 'c', 1); // evicts b
    assert.equal(h.streamCount, 2);
    assert.deepEqual(
      store.deleted,
      ['b'],
      'the evicted stream is deleted from the store, entries and position',
    );
    assert.deepEqual(
      store
        .load(0)
        .streams.map((s) => s.channel)
        .sort(),
      ['a', 'c'],
    );
    assert.deepEqual(
      store.load(0).history.filter((r) => r.channel === 'b'),
      [],
    );
    assert.equal(h.position('a')?.epoch, a1[0].epoch);
    const [b] = publishN(h, 'b', 1); // evicts a
    assert.equal(b.offset, 1);
    assert.equal(h.streamCount, 2);
    const [a] = publishN(h, 'a', 1);
    assert.notEqual(a.epoch, a1[0].epoch);
    assert.equal(a.offset, 1);
    assert.equal(h.recover('a', { offset: 3, epoch: a1[0].epoch as string }, 1000)?.recovered, false);
    assert.equal(h.entryCount, 2);
  });

  it('restore from a store gives the same epochs and offsets and continues numbering', () => {
    const store = new MemoryStore();
    const rules = [rule('c', 4, 0), rule('t', 10, 1000), rule('x', 5, 0)];
    const first = history(rules, store);
    const cs = publishN(first, 'c', 6, 1000);
    publishN(first, 't', 2, 1000, 'early');
    publishN(first, 't', 2, 1800, 'late');
    publishN(first, 'x', 2, 1000);

    const state = store.load(2000);
    // Rules changed at restart: `x` has none any more.
    const second = history(rules.slice(0, 2), store);
    second.restore(state.streams, state.history, 2000);
    assert.equal(second.streamCount, 2);
    assert.equal(second.entryCount, 4 + 2);
    const c = second.read('c', {}, 2000);
    assert.equal(c?.epoch, cs[0].epoch);
    assert.equal(c?.offset, 6);
    assert.deepEqual(texts(c?.publications ?? []), ['m3', 'm4', 'm5', 'm6']);
    assert.deepEqual(offsets(c?.publications ?? []), [3, 4, 5, 6]);
    assert.ok(c?.publications.every((p) => p.epoch === cs[0].epoch));
    const r = second.recover('c', { offset: 4, epoch: cs[0].epoch as string }, 2000);
    assert.equal(r?.recovered, true);
    assert.deepEqual(texts(r?.publications ?? []), ['m5', 'm6']);
    assert.deepEqual(texts(second.read('t', {}, 2000)?.publications ?? []), ['late1', 'late2']);
    const next = pub('c', 'm7');
    second.append(next, 2000);
    assert.equal(next.offset, 7);
    assert.equal(next.epoch, cs[0].epoch);
    assert.deepEqual(
      store
        .load(2000)
        .history.filter((h) => h.channel === 'x')
        .map((h) => h.offset),
      [],
    );
    assert.deepEqual(
      store
        .load(2000)
        .streams.map((s) => s.channel)
        .sort(),
      ['c', 't'],
      'the stream whose rule was removed is deleted, position included',
    );
  });

  it('a stream whose rule was removed at a restart comes back with a new epoch when the rule returns', () => {
    // The stream is deleted by the restart without the rule: publications made meanwhile were
    // not kept, so its old epoch must not claim to continue.
    const store = new MemoryStore();
    const first = history([rule('c')], store);
    const [p] = publishN(first, 'c', 3);
    let state = store.load(0);
    history([rule('other')], store).restore(state.streams, state.history, 0);
    state = store.load(0);
    assert.deepEqual(state.streams, []);
    assert.deepEqual(state.history, []);
    const third = history([rule('c')], store);
    third.restore(state.streams, state.history, 0);
    const r = third.recover('c', { offset: 3, epoch: p.epoch as string }, 0);
    assert.equal(r?.recovered, false);
    assert.notEqual(r?.epoch, p.epoch);
    assert.equal(r?.offset, 0);
  });

  it('restore keeps the most recently appended streams past maxStreams and deletes the others', () => {
    const store = new SpyStore();
    const stream = (channel: string, updatedAt?: number): StreamRecord =>
      updatedAt === undefined
        ? { channel, epoch: `e-${channel}`, offset: 1 }
        : { channel, epoch: `e-${channel}`, offset: 1, updatedAt };
    const entry = (channel: string): HistoryRecord => ({
      channel,
      offset: 1,
      time: 0,
      message: { channel, payload: Buffer.from(channel), qos: 0, retain: false },
    });
    // Channel-name order is the opposite of recency; `old` has no time at all.
    const streams = [stream('a', 300), stream('b', 100), stream('c', 200), stream('d', 400), stream('old')];
    for (const s of streams) {
      store.putStream(s);
      store.appendHistory(entry(s.channel));
    }
    const state = store.load(0);
    const h = history([rule('#')], store, 3);
    h.restore(state.streams, state.history, 0);
    assert.equal(h.streamCount, 3);
    assert.equal(h.entryCount, 3);
    assert.deepEqual([...store.deleted].sort(), ['b', 'old']);
    const after = store.load(0);
    assert.deepEqual(after.streams.map((s) => s.channel).sort(), ['a', 'c', 'd']);
    assert.deepEqual(after.history.map((r) => r.channel).sort(), ['a', 'c', 'd']);
    for (const channel of ['a', 'c', 'd']) {
      assert.equal(h.recover(channel, { offset: 0, epoch: `e-${channel}` }, 0)?.recovered, true, channel);
    }
    // The order of recency goes on: the least recent kept stream (c) is the next evicted.
    publishN(h, 'e', 1);
    assert.deepEqual(store.deleted.at(-1), 'c');
    // Restore does not write back what it kept unchanged.
    assert.equal(store.streamsPut.filter((s) => s.channel === 'a').length, 1);
  });

  it('restore with newEpochs gives every stream a new epoch; entries keep their offsets', () => {
    const store = new SpyStore();
    const first = history([rule('c', 10), rule('d', 10)], store);
    const [c1] = publishN(first, 'c', 4, 500);
    const [d1] = publishN(first, 'd', 2, 600);
    const state = store.load(0);
    const second = history([rule('c', 10), rule('d', 10)], store);
    second.restore(state.streams, state.history, 1000, { newEpochs: true });
    const page = second.read('c', {}, 1000);
    assert.ok(page);
    assert.notEqual(page.epoch, c1.epoch);
    assert.notEqual(second.position('d')?.epoch, d1.epoch);
    assert.notEqual(page.epoch, second.position('d')?.epoch);
    assert.equal(page.offset, 4);
    assert.deepEqual(offsets(page.publications), [1, 2, 3, 4]);
    assert.deepEqual(texts(page.publications), ['m1', 'm2', 'm3', 'm4']);
    assert.ok(page.publications.every((p) => p.epoch === page.epoch));
    // A client of the old epoch reloads; one of the new epoch recovers.
    assert.deepEqual(second.recover('c', { offset: 2, epoch: c1.epoch as string }, 1000), {
      recovered: false,
      publications: [],
      offset: 4,
      epoch: page.epoch,
    });
    assert.equal(second.recover('c', { offset: 2, epoch: page.epoch }, 1000)?.recovered, true);
    // The new epoch is stored (with the stream's last append time), so the next clean start keeps it.
    const stored = store.load(0).streams.find((s) => s.channel === 'c');
    assert.deepEqual(stored, { channel: 'c', epoch: page.epoch, offset: 4, updatedAt: 500 });
    const next = pub('c', 'm5');
    second.append(next, 1000);
    assert.deepEqual([next.offset, next.epoch], [5, page.epoch]);
    const again = store.load(0);
    const third = history([rule('c', 10), rule('d', 10)], store);
    third.restore(again.streams, again.history, 1000);
    assert.deepEqual(third.position('c'), { offset: 5, epoch: page.epoch });
  });

  it('forgetStreams deletes every stored stream and entry (a server started without rules)', () => {
    const store = new SpyStore();
    const h = history([rule('#')], store);
    publishN(h, 'a', 2);
    publishN(h, 'b', 1);
    h.position('c');
    // History entries left without a position are deleted too.
    store.appendHistory({
      channel: 'orphan',
      offset: 1,
      time: 0,
      message: { channel: 'orphan', payload: Buffer.from(''), qos: 0, retain: false },
    });
    forgetStreams(store, store.load(0));
    assert.deepEqual([...store.deleted].sort(), ['a', 'b', 'c', 'orphan']);
    const state = store.load(0);
    assert.deepEqual([state.streams, state.history], [[], []]);
  });

  it('stored streams stay within maxStreams, also for channels only read', () => {
    const store = new MemoryStore();
    const h = history([rule('chat:*', 10)], store, 100);
    for (let i = 0; i < 3000; i++) {
      if (i % 3 === 0) h.position(`chat:${i}`);
      else if (i % 3 === 1) h.read(`chat:${i}`, {}, i);
      else h.append(pub(`chat:${i}`, 'x'), i);
    }
    const state = store.load(0);
    assert.equal(h.streamCount, 100);
    assert.equal(state.streams.length, 100);
    assert.ok(state.history.length <= 100);
  });

  it('restore keeps at most the (new) size and drops a broken run', () => {
    const store = new MemoryStore();
    const first = history([rule('c', 10)], store);
    const ps = publishN(first, 'c', 8);
    const state = store.load(0);
    const second = history([rule('c', 3)], store);
    second.restore(state.streams, state.history, 0);
    assert.deepEqual(offsets(second.read('c', {}, 0)?.publications ?? []), [6, 7, 8]);
    assert.deepEqual(
      store.load(0).history.map((r) => r.offset),
      [6, 7, 8],
    );
    assert.equal(second.position('c')?.epoch, ps[0].epoch);
    // A run with a hole: only the contiguous newest part can be recovered from.
    const third = history([rule('c', 10)], new MemoryStore());
    const message = (offset: number): HistoryRecord => ({
      channel: 'c',
      offset,
      time: 0,
      message: { channel: 'c', payload: Buffer.from(`m${offset}`), qos: 0, retain: false },
    });
    third.restore([{ channel: 'c', epoch: 'e', offset: 5 }], [1, 2, 4, 5].map(message), 0);
    assert.deepEqual(texts(third.read('c', {}, 0)?.publications ?? []), ['m4', 'm5']);
    assert.equal(third.recover('c', { offset: 3, epoch: 'e' }, 0)?.recovered, true);
    assert.equal(third.recover('c', { offset: 2, epoch: 'e' }, 0)?.recovered, false);
  });

  it('the ring agrees with a plain list under random appends, expiry and reads', () => {
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (const size of [1, 2, 3, 7]) {
      const ttl = 50;
      const h = history([rule('c', size, ttl)]);
      const model: { offset: number; expiresAt: number }[] = [];
      let now = 0;
      let top = 0;
      let epoch = '';
      for (let step = 0; step < 3000; step++) {
        now += rand(20);
        const op = rand(4);
        if (op < 2) {
          const p = pub('c');
          h.append(p, now);
          epoch = p.epoch as string;
          top++;
          model.push({ offset: top, expiresAt: now + ttl });
          if (model.length > size) model.shift();
        } else if (op === 2) {
          h.purge(now);
        } else {
          const live = model.filter((e) => e.expiresAt > now).map((e) => e.offset);
          assert.deepEqual(
            offsets(h.read('c', {}, now)?.publications ?? []),
            live,
            `size ${size} step ${step}`,
          );
          const since = top - rand(size + 2);
          if (since >= 0 && epoch) {
            const r = h.recover('c', { offset: since, epoch }, now);
            const missed = live.filter((o) => o > since);
            const expect = since === top || missed.length === top - since;
            assert.equal(r?.recovered, expect, `recover ${since} of ${top} at step ${step}`);
            if (expect) assert.deepEqual(offsets(r?.publications ?? []), missed);
          }
        }
      }
    }
  });

  it('the broker stamps publications before fan-out, only when history is set', () => {
    const broker = new Broker({ maxChannels: 100, maxSubscriptionsPerConnection: 10 });
    const got: Message[] = [];
    const subscriber: Subscriber = {
      id: 's',
      deliver(m: Message) {
        got.push(m);
      },
    } as Subscriber;
    broker.subscribe(subscriber, 'chat:1');
    const plain = pub('chat:1');
    broker.publish(plain);
    assert.equal(plain.offset, undefined);
    broker.history = history([rule('chat:*')]);
    broker.subscribe(subscriber, 'chat:2');
    const stamped: (number | undefined)[] = [];
    const watching: Subscriber = {
      id: 'w',
      deliver(m: Message) {
        if (m.kind === 'publication') stamped.push(m.offset);
      },
    } as Subscriber;
    broker.subscribe(watching, 'chat:2');
    broker.publish(pub('chat:2'));
    broker.publish(pub('chat:2'));
    assert.deepEqual(stamped, [1, 2]);
    assert.equal(
      broker.publish(pub('$SYS/x'), () => undefined),
      0,
    );
  });
});

describe('history byte limits', () => {
  const big = (channel: string, bytes: number) =>
    new Publication({ channel, payload: Buffer.alloc(bytes, 1) });

  it("a rule's maxBytes trims the stream's oldest entries, in memory and in the store", () => {
    const store = new SpyStore();
    const h = new ChannelHistory([{ pattern: 'c', size: 100, ttlMs: 0, maxBytes: 1000 }], store, {
      maxStreams: 10,
    });
    for (let i = 0; i < 10; i++) h.append(big('c', 299), 1000);
    // 300 bytes an entry (payload and channel): three fit.
    assert.equal(h.entryCount, 3);
    assert.equal(h.byteCount, 900);
    const page = h.read('c', {}, 1000) as { publications: Publication[] };
    assert.deepEqual(offsets(page.publications), [8, 9, 10]);
    assert.deepEqual(store.trims.at(-1), ['c', 8]);
    assert.equal((store.load(1000).history as HistoryRecord[]).filter((r) => r.channel === 'c').length, 3);
    // A client at offset 5 lost entries to the limit: not recovered; one at 8 is.
    const epoch = at(page.publications, 0).epoch as string;
    assert.equal(h.recover('c', { offset: 5, epoch }, 1000)?.recovered, false);
    assert.deepEqual(offsets(h.recover('c', { offset: 8, epoch }, 1000)?.publications ?? []), [9, 10]);
  });

  it('maxTotalBytes trims the oldest entries of the least recently appended streams first', () => {
    const store = new SpyStore();
    const h = new ChannelHistory([{ pattern: '#', size: 100, ttlMs: 0 }], store, {
      maxStreams: 10,
      maxTotalBytes: 1000,
    });
    for (let i = 0; i < 3; i++) h.append(big('a', 99), 1000);
    for (let i = 0; i < 3; i++) h.append(big('b', 99), 1001);
    for (let i = 0; i < 5; i++) h.append(big('c', 99), 1002);
    // 11 entries of 100 bytes: the oldest one of `a` went.
    assert.equal(h.byteCount, 1000);
    assert.equal(h.read('a', {}, 1000)?.publications.length, 2);
    for (let i = 0; i < 3; i++) h.append(big('c', 99), 1003);
    // Three more: `a` is emptied first (2), then `b` loses its oldest (1).
    assert.equal(h.read('a', {}, 1000)?.publications.length, 0);
    assert.deepEqual(offsets(h.read('b', {}, 1000)?.publications ?? []), [2, 3]);
    assert.equal(h.read('c', {}, 1000)?.publications.length, 8);
    assert.equal(h.entryCount, 10);
    assert.equal(h.byteCount, 1000);
    assert.deepEqual(store.trims.slice(-2), [
      ['a', 4],
      ['b', 2],
    ]);
    // The store holds what memory holds: a restart with the same limits restores the same.
    const again = new ChannelHistory([{ pattern: '#', size: 100, ttlMs: 0 }], new MemoryStore(), {
      maxStreams: 10,
      maxTotalBytes: 500,
    });
    const state = store.load(1000);
    again.restore(state.streams, state.history, 1000);
    assert.equal(again.byteCount, 500, 'a lowered limit applies at restore');
    assert.equal(again.read('c', {}, 1000)?.publications.length, 5);
  });
});
