import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  type HistoryRecord,
  type InflightRecord,
  type LoadedSession,
  MemoryStore,
  type QueuedRecord,
  type SessionRecord,
  type Store,
  type StoredMessage,
  type StoredState,
  type StoredSubscription,
  type WillRecord,
} from '@pulse/core';
import Database from 'better-sqlite3';
import { defaultConfig } from '../src/config/index.js';
import { openStore } from '../src/storage/open-store.js';
import { SqliteStore, StoreOpenError } from '../src/storage/sqlite-store.js';

const root = mkdtempSync(join(tmpdir(), 'pulse-store-'));
after(() => rmSync(root, { recursive: true, force: true }));
const newDir = (): string => mkdtempSync(join(root, 't-'));

const NOW = 1_700_000_000_000;
/** Loads with a time before every expiry in these tests: load's own purge removes nothing. */
const EARLY = NOW - 10_000_000;

const msg = (channel: string, extra: Partial<StoredMessage> = {}): StoredMessage => ({
  channel,
  payload: Buffer.from(`payload of ${channel}`),
  qos: 1,
  retain: false,
  ...extra,
});
const sub = (filter: string, extra: Partial<StoredSubscription> = {}): StoredSubscription => ({
  filter,
  qos: 1,
  noLocal: false,
  retainAsPublished: false,
  retainHandling: 0,
  ...extra,
});
const session = (clientId: string, extra: Partial<SessionRecord> = {}): SessionRecord => ({
  clientId,
  expiryInterval: 3600,
  subscriptions: [sub('a/#')],
  ...extra,
});
const inflight = (
  packetId: number,
  state: 'publish' | 'pubrel' = 'publish',
  message = msg(`in/${packetId}`),
): InflightRecord => ({ packetId, state, message, qos: 1, retain: false });
const queued = (seq: number, message = msg(`q/${seq}`)): QueuedRecord => ({
  seq,
  message,
  qos: 1,
  retain: false,
});
const will = (clientId: string, extra: Partial<WillRecord> = {}): WillRecord => ({
  clientId,
  message: msg(`will/${clientId}`),
  publishAt: NOW + 5_000,
  ...extra,
});
const history = (channel: string, offset: number, extra: Partial<HistoryRecord> = {}): HistoryRecord => ({
  channel,
  offset,
  time: NOW - 100_000 + offset,
  message: msg(channel, { payload: Buffer.from(`#${offset}`) }),
  ...extra,
});

function sessionOf(state: StoredState, clientId: string): LoadedSession | undefined {
  return state.sessions.find((s) => s.session.clientId === clientId);
}
const clientIds = (state: StoredState): string[] => state.sessions.map((s) => s.session.clientId).sort();
const byChannel = <T extends { channel: string }>(items: T[]): T[] =>
  [...items].sort((a, b) => (a.channel < b.channel ? -1 : a.channel > b.channel ? 1 : 0));
const offsetsOf = (state: StoredState, channel: string): number[] =>
  state.history.filter((h) => h.channel === channel).map((h) => h.offset);

/** The same test bodies for every engine: `reopen` is a restart of the server on the same store. */
function contract(
  name: string,
  makeStore: (dir: string) => Store,
  reopen: (store: Store, dir: string) => Store,
): void {
  describe(`Store contract: ${name}`, () => {
    const fresh = (): { dir: string; store: Store } => {
      const dir = newDir();
      return { dir, store: makeStore(dir) };
    };
    const restart = (store: Store, dir: string): Store => {
      store.commit();
      return reopen(store, dir);
    };

    test('sessions: put, replace (keeping QoS state), delete with cascade (not the will)', () => {
      let { dir, store } = fresh();
      store.putSession(session('a'));
      store.putSession(session('b', { expiresAt: NOW + 60_000, expiryInterval: 0xffffffff }));
      store.putInflight('a', inflight(1));
      store.putQueued('a', queued(1));
      store.putIncomingQos2('a', 9);
      store.putWill(will('a'));
      store = restart(store, dir);
      let state = store.load(EARLY);
      assert.deepEqual(clientIds(state), ['a', 'b']);
      assert.deepStrictEqual(
        sessionOf(state, 'b')?.session,
        session('b', { expiresAt: NOW + 60_000, expiryInterval: 0xffffffff }),
      );

      const replaced = session('a', {
        expiryInterval: 7,
        subscriptions: [
          sub('x/+', { qos: 2, subscriptionId: 5, noLocal: true, retainHandling: 2 }),
          sub('y'),
        ],
      });
      store.putSession(replaced);
      store = restart(store, dir);
      state = store.load(EARLY);
      const a = sessionOf(state, 'a');
      assert.deepStrictEqual(a?.session, replaced);
      assert.deepEqual(
        [a?.inflight.length, a?.queue.length, a?.incomingQos2],
        [1, 1, [9]],
        'replacing a session keeps its QoS state',
      );

      store.deleteSession('a');
      store = restart(store, dir);
      state = store.load(EARLY);
      assert.deepEqual(clientIds(state), ['b']);
      assert.deepEqual(
        state.wills.map((w) => w.clientId),
        ['a'],
        'deleting a session keeps its will',
      );

      // Created again: nothing of the deleted session's state comes back.
      store.putSession(session('a'));
      store = restart(store, dir);
      state = store.load(EARLY);
      assert.deepEqual(sessionOf(state, 'a'), {
        session: session('a'),
        inflight: [],
        queue: [],
        incomingQos2: [],
      });
      store.close();
    });

    test('QoS state written for an unknown session is ignored', () => {
      let { dir, store } = fresh();
      store.putInflight('ghost', inflight(1));
      store.putQueued('ghost', queued(1));
      store.putIncomingQos2('ghost', 1);
      store.putSession(session('ghost'));
      store = restart(store, dir);
      assert.deepEqual(sessionOf(store.load(EARLY), 'ghost'), {
        session: session('ghost'),
        inflight: [],
        queue: [],
        incomingQos2: [],
      });
      store.close();
    });

    test('inflight: first-sent order, publish -> pubrel in place, delete', () => {
      let { dir, store } = fresh();
      store.putSession(session('c'));
      store.putInflight('c', inflight(65535));
      store.putInflight('c', inflight(1));
      store.putInflight('c', inflight(2));
      store = restart(store, dir);
      assert.deepEqual(
        sessionOf(store.load(EARLY), 'c')?.inflight.map((r) => r.packetId),
        [65535, 1, 2],
        'resends go in the order of first sending, not packet id order',
      );

      store.putInflight('c', inflight(65535, 'pubrel'));
      store.deleteInflight('c', 2);
      store.deleteInflight('c', 4242); // unknown: no effect
      store = restart(store, dir);
      assert.deepStrictEqual(sessionOf(store.load(EARLY), 'c')?.inflight, [
        inflight(65535, 'pubrel'),
        inflight(1),
      ]);

      store.putInflight('c', inflight(3));
      store.putInflight('c', inflight(1, 'pubrel'));
      store = restart(store, dir);
      assert.deepEqual(
        sessionOf(store.load(EARLY), 'c')?.inflight.map((r) => [r.packetId, r.state]),
        [
          [65535, 'pubrel'],
          [1, 'pubrel'],
          [3, 'publish'],
        ],
      );
      store.close();
    });

    test('queue: seq order and delete', () => {
      let { dir, store } = fresh();
      store.putSession(session('c'));
      store.putSession(session('d'));
      for (const seq of [3, 1, 2, 10]) store.putQueued('c', queued(seq));
      store.putQueued('d', queued(7));
      store = restart(store, dir);
      let state = store.load(EARLY);
      assert.deepEqual(
        sessionOf(state, 'c')?.queue.map((q) => q.seq),
        [1, 2, 3, 10],
      );
      assert.deepStrictEqual(sessionOf(state, 'c')?.queue[2], queued(3));

      store.deleteQueued('c', 2);
      store.putQueued('c', queued(4));
      store.putQueued('c', queued(1, msg('q/replaced')));
      store = restart(store, dir);
      state = store.load(EARLY);
      assert.deepEqual(
        sessionOf(state, 'c')?.queue.map((q) => [q.seq, q.message.channel]),
        [
          [1, 'q/replaced'],
          [3, 'q/3'],
          [4, 'q/4'],
          [10, 'q/10'],
        ],
      );
      assert.deepEqual(
        sessionOf(state, 'd')?.queue.map((q) => q.seq),
        [7],
      );
      store.close();
    });

    test('incoming QoS 2 packet ids', () => {
      let { dir, store } = fresh();
      store.putSession(session('c'));
      store.putIncomingQos2('c', 5);
      store.putIncomingQos2('c', 7);
      store.putIncomingQos2('c', 5);
      store.putIncomingQos2('c', 65535);
      store.deleteIncomingQos2('c', 7);
      store = restart(store, dir);
      assert.deepEqual(
        [...(sessionOf(store.load(EARLY), 'c')?.incomingQos2 ?? [])].sort((x, y) => x - y),
        [5, 65535],
      );
      store.close();
    });

    test('retained: put, replace, delete', () => {
      let { dir, store } = fresh();
      store.putRetained(msg('r/a', { retain: true }));
      store.putRetained(msg('r/b', { retain: true }));
      store.putRetained(msg('r/c', { retain: true }));
      store = restart(store, dir);
      assert.deepEqual(
        byChannel(store.load(EARLY).retained).map((m) => m.channel),
        ['r/a', 'r/b', 'r/c'],
      );

      const replacement = msg('r/a', { retain: true, payload: Buffer.from('new'), qos: 2 });
      store.putRetained(replacement);
      store.deleteRetained('r/b');
      store.deleteRetained('r/none');
      store = restart(store, dir);
      assert.deepStrictEqual(byChannel(store.load(EARLY).retained), [
        replacement,
        msg('r/c', { retain: true }),
      ]);
      store.close();
    });

    test('wills: put, replace, delete', () => {
      let { dir, store } = fresh();
      store.putWill(will('w1', { expirySeconds: 30 }));
      store.putWill(will('w2'));
      store.putWill(will('w3'));
      store = restart(store, dir);
      assert.equal(store.load(EARLY).wills.length, 3);

      const replaced = will('w1', { publishAt: NOW + 99_000, message: msg('will/other', { qos: 2 }) });
      store.putWill(replaced);
      store.deleteWill('w2');
      store = restart(store, dir);
      const wills = [...store.load(EARLY).wills].sort((a, b) => (a.clientId < b.clientId ? -1 : 1));
      assert.deepStrictEqual(wills, [replaced, will('w3')]);
      store.close();
    });

    test('streams and history: append, trim (also to Infinity), per-channel offset order', () => {
      let { dir, store } = fresh();
      store.putStream({ channel: 'h/a', epoch: 'e1', offset: 5 });
      store.putStream({ channel: 'h/b', epoch: 'e2', offset: 3 });
      store.putStream({ channel: 'h/a', epoch: 'e1', offset: 6 });
      for (let offset = 1; offset <= 6; offset++) {
        store.appendHistory(history('h/b', offset));
        store.appendHistory(history('h/a', offset));
      }
      store = restart(store, dir);
      let state = store.load(EARLY);
      assert.deepStrictEqual(byChannel(state.streams), [
        { channel: 'h/a', epoch: 'e1', offset: 6 },
        { channel: 'h/b', epoch: 'e2', offset: 3 },
      ]);
      assert.deepEqual(offsetsOf(state, 'h/a'), [1, 2, 3, 4, 5, 6]);
      const channels = state.history.map((h) => h.channel);
      assert.equal(
        channels.filter((c, i) => c !== channels[i - 1]).length,
        2,
        'history comes grouped per channel',
      );
      assert.deepStrictEqual(
        state.history.find((h) => h.channel === 'h/b' && h.offset === 4),
        history('h/b', 4),
      );

      store.trimHistory('h/a', 4);
      store.trimHistory('h/b', Infinity);
      store.trimHistory('h/none', 3);
      store = restart(store, dir);
      state = store.load(EARLY);
      assert.deepEqual(offsetsOf(state, 'h/a'), [4, 5, 6]);
      assert.deepEqual(offsetsOf(state, 'h/b'), []);
      assert.equal(state.streams.length, 2, 'trimming history keeps the stream position');

      store.appendHistory(history('h/b', 7));
      store.trimHistory('h/a', 6);
      store = restart(store, dir);
      state = store.load(EARLY);
      assert.deepEqual(offsetsOf(state, 'h/a'), [6]);
      assert.deepEqual(offsetsOf(state, 'h/b'), [7]);
      store.close();
    });

    test('streams: updatedAt round-trips; deleteStream deletes the position and every entry', () => {
      let { dir, store } = fresh();
      store.putStream({ channel: 'h/a', epoch: 'ea', offset: 3, updatedAt: NOW - 7 });
      store.putStream({ channel: 'h/b', epoch: 'eb', offset: 2 });
      store.putStream({ channel: 'h/c', epoch: 'ec', offset: 0, updatedAt: NOW });
      for (let offset = 1; offset <= 3; offset++) store.appendHistory(history('h/a', offset));
      for (let offset = 1; offset <= 2; offset++) store.appendHistory(history('h/b', offset));
      store = restart(store, dir);
      let state = store.load(EARLY);
      assert.deepStrictEqual(byChannel(state.streams), [
        { channel: 'h/a', epoch: 'ea', offset: 3, updatedAt: NOW - 7 },
        { channel: 'h/b', epoch: 'eb', offset: 2 },
        { channel: 'h/c', epoch: 'ec', offset: 0, updatedAt: NOW },
      ]);

      store.deleteStream('h/a');
      store.deleteStream('h/c');
      store.deleteStream('h/none');
      store = restart(store, dir);
      state = store.load(EARLY);
      assert.deepStrictEqual(state.streams, [{ channel: 'h/b', epoch: 'eb', offset: 2 }]);
      assert.deepEqual(offsetsOf(state, 'h/a'), []);
      assert.deepEqual(offsetsOf(state, 'h/b'), [1, 2]);

      // Created again: nothing of the deleted stream comes back; within one commit, in order.
      store.putStream({ channel: 'h/a', epoch: 'new', offset: 1, updatedAt: NOW });
      store.appendHistory(history('h/a', 1));
      store.deleteStream('h/b');
      store.putStream({ channel: 'h/b', epoch: 'eb2', offset: 0 });
      store = restart(store, dir);
      state = store.load(EARLY);
      assert.deepStrictEqual(byChannel(state.streams), [
        { channel: 'h/a', epoch: 'new', offset: 1, updatedAt: NOW },
        { channel: 'h/b', epoch: 'eb2', offset: 0 },
      ]);
      assert.deepEqual(offsetsOf(state, 'h/a'), [1]);
      assert.deepEqual(offsetsOf(state, 'h/b'), []);
      // History entries without a position are deleted too.
      store.appendHistory(history('h/orphan', 4));
      store.deleteStream('h/orphan');
      store = restart(store, dir);
      assert.deepEqual(offsetsOf(store.load(EARLY), 'h/orphan'), []);
      store.close();
    });

    test('recoveredFromCrash is false for a new store and after a clean close', () => {
      let { dir, store } = fresh();
      assert.equal(store.recoveredFromCrash, false);
      store.putRetained(msg('r/x'));
      store = restart(store, dir);
      assert.equal(store.recoveredFromCrash, false);
      store.close();
    });

    /** Fills a store with things that expire at or before NOW and things that do not. */
    const fillExpiring = (store: Store): void => {
      for (const [id, expiresAt] of [
        ['dead', NOW - 1],
        ['edge', NOW],
        ['live', NOW + 1_000],
        ['forever', undefined],
      ] as const) {
        store.putSession(session(id, expiresAt === undefined ? {} : { expiresAt }));
        store.putInflight(id, inflight(1, 'publish', msg('i', { expiresAt: NOW - 5 })));
        store.putQueued(id, queued(1, msg('q', { expiresAt: NOW - 5 })));
        store.putQueued(id, queued(2, msg('q', { expiresAt: NOW + 5_000 })));
        store.putQueued(id, queued(3));
        store.putIncomingQos2(id, 4);
        store.putWill(will(id));
      }
      store.putRetained(msg('r/old', { expiresAt: NOW - 1 }));
      store.putRetained(msg('r/edge', { expiresAt: NOW }));
      store.putRetained(msg('r/new', { expiresAt: NOW + 1_000 }));
      store.putRetained(msg('r/none'));
      store.appendHistory(history('h', 1, { expiresAt: NOW - 10 }));
      store.appendHistory(history('h', 2, { expiresAt: NOW }));
      store.appendHistory(history('h', 3, { expiresAt: NOW + 10 }));
      // Expired, but behind a live entry: history leaves from the front only.
      store.appendHistory(history('h', 4, { expiresAt: NOW - 1 }));
      store.appendHistory(history('h', 5));
      store.appendHistory(history('g', 1, { expiresAt: NOW - 2 }));
      store.appendHistory(history('g', 2, { expiresAt: NOW - 1 }));
      store.appendHistory(history('k', 1));
      store.appendHistory(history('k', 2, { expiresAt: NOW - 1 }));
      store.putStream({ channel: 'g', epoch: 'e', offset: 2 });
    };
    const assertPurged = (state: StoredState): void => {
      assert.deepEqual(clientIds(state), ['forever', 'live']);
      for (const id of ['forever', 'live']) {
        const s = sessionOf(state, id);
        assert.deepEqual(
          s?.queue.map((q) => q.seq),
          [2, 3],
          `expired queued messages of ${id} are gone`,
        );
        assert.deepEqual(
          s?.inflight.map((r) => r.packetId),
          [1],
          'inflight messages stay (they are being delivered)',
        );
        assert.deepEqual(s?.incomingQos2, [4]);
      }
      assert.deepEqual(state.wills.map((w) => w.clientId).sort(), ['dead', 'edge', 'forever', 'live']);
      assert.deepEqual(
        byChannel(state.retained).map((m) => m.channel),
        ['r/new', 'r/none'],
      );
      assert.deepEqual(offsetsOf(state, 'h'), [3, 4, 5]);
      assert.deepEqual(offsetsOf(state, 'g'), []);
      assert.deepEqual(offsetsOf(state, 'k'), [1, 2]);
      assert.deepEqual(
        state.streams.map((s) => s.channel),
        ['g'],
      );
    };

    test('purge: expired sessions (with their QoS state), queued, retained and history', () => {
      let { dir, store } = fresh();
      fillExpiring(store);
      store = restart(store, dir);
      store.purge(NOW);
      store = restart(store, dir);
      const state = store.load(EARLY);
      assertPurged(state);
      // A purged session's QoS state is gone for good, even if the client id comes back.
      store.putSession(session('dead'));
      store = restart(store, dir);
      assert.deepEqual(sessionOf(store.load(EARLY), 'dead'), {
        session: session('dead'),
        inflight: [],
        queue: [],
        incomingQos2: [],
      });
      store.close();
    });

    test('purge(now, false) leaves every session and its QoS state alone, purges the rest', () => {
      let { dir, store } = fresh();
      fillExpiring(store);
      store = restart(store, dir);
      store.purge(NOW, false);
      store = restart(store, dir);
      const state = store.load(EARLY);
      assert.deepEqual(clientIds(state), ['dead', 'edge', 'forever', 'live']);
      for (const id of ['dead', 'edge', 'forever', 'live']) {
        const s = sessionOf(state, id);
        assert.deepEqual(
          s?.queue.map((q) => q.seq),
          [2, 3],
          `expired queued messages of ${id} are gone, the others stay`,
        );
        assert.deepEqual(
          s?.inflight.map((r) => r.packetId),
          [1],
        );
        assert.deepEqual(s?.incomingQos2, [4]);
      }
      assert.deepEqual(
        byChannel(state.retained).map((m) => m.channel),
        ['r/new', 'r/none'],
      );
      assert.deepEqual(offsetsOf(state, 'h'), [3, 4, 5]);
      assert.deepEqual(offsetsOf(state, 'g'), []);
      assert.deepEqual(offsetsOf(state, 'k'), [1, 2]);
      // QoS state written after the purge still lands on the sessions it left (SQLite's indexes).
      store.putInflight('dead', inflight(2));
      store.putQueued('edge', queued(9));
      store = restart(store, dir);
      const after = store.load(EARLY);
      assert.deepEqual(
        sessionOf(after, 'dead')?.inflight.map((r) => r.packetId),
        [1, 2],
      );
      assert.deepEqual(
        sessionOf(after, 'edge')?.queue.map((q) => q.seq),
        [2, 3, 9],
      );
      // load() (start-up) still purges sessions by their stored expiry.
      assertPurged(store.load(NOW));
      store.close();
    });

    test('load(now) drops what expired', () => {
      let { dir, store } = fresh();
      fillExpiring(store);
      store = restart(store, dir);
      assertPurged(store.load(NOW));
      store = restart(store, dir);
      assertPurged(store.load(EARLY));
      store.close();
    });

    test('messages round-trip every field; absent fields stay absent', () => {
      let { dir, store } = fresh();
      const full: StoredMessage = {
        channel: 'rt/full',
        payload: Buffer.from([0, 1, 2, 255, 0]),
        event: 'update',
        qos: 2,
        retain: true,
        properties: {
          contentType: 'application/json',
          correlationData: Buffer.from([9, 8, 7, 0]),
          userProperties: { a: '1', b: ['x', 'y'] },
          payloadFormatIndicator: true,
          messageExpiryInterval: 60,
        },
        expiresAt: NOW + 60_000,
      };
      const minimal: StoredMessage = { channel: 'rt/min', payload: Buffer.alloc(0), qos: 0, retain: false };
      const delivery: InflightRecord = {
        packetId: 3,
        state: 'publish',
        message: full,
        qos: 1,
        retain: false,
        subscriptionIds: [1, 7, 268435455],
      };
      // Neither event nor properties: the compact meta, every qos/retain bit and the expiry.
      const plain: StoredMessage = {
        channel: 'rt/plain',
        payload: Buffer.from('p'),
        qos: 2,
        retain: true,
        expiresAt: NOW + 30_000,
      };
      const plainQueued: QueuedRecord = { seq: 1, message: plain, qos: 0, retain: true };
      const fullWill: WillRecord = {
        clientId: 'c',
        message: full,
        publishAt: NOW + 1_000,
        expirySeconds: 120,
      };
      const entries: HistoryRecord[] = [
        { channel: 'rt/full', offset: 1, time: NOW - 5, expiresAt: NOW + 999_000, message: full },
        { channel: 'rt/min', offset: 1, time: NOW - 4, message: minimal },
        // A history entry whose message names another channel keeps it.
        { channel: 'rt/x', offset: 9, time: NOW - 3, message: full },
      ];
      const fullSession = session('c', { expiresAt: NOW + 10_000 });
      store.putSession(fullSession);
      store.putSession(session('plain'));
      store.putInflight('c', delivery);
      store.putQueued('c', plainQueued);
      store.putQueued('c', { seq: 2, message: full, qos: 2, retain: true, subscriptionIds: [4] });
      store.putRetained(full);
      store.putRetained(minimal);
      store.putWill(fullWill);
      store.putWill({ clientId: 'plain', message: minimal, publishAt: NOW });
      for (const e of entries) store.appendHistory(e);
      store = restart(store, dir);
      const state = store.load(EARLY);

      const c = sessionOf(state, 'c');
      assert.deepStrictEqual(c?.session, fullSession);
      assert.deepStrictEqual(sessionOf(state, 'plain')?.session, session('plain'));
      assert.deepStrictEqual(c?.inflight, [delivery]);
      assert.deepStrictEqual(c?.queue, [
        plainQueued,
        { seq: 2, message: full, qos: 2, retain: true, subscriptionIds: [4] },
      ]);
      assert.deepStrictEqual(byChannel(state.retained), [full, minimal]);
      assert.deepStrictEqual(
        [...state.wills].sort((a, b) => (a.clientId < b.clientId ? -1 : 1)),
        [fullWill, { clientId: 'plain', message: minimal, publishAt: NOW }],
      );
      assert.deepStrictEqual(byChannel(state.history), entries);

      const loadedMinimal = state.retained.find((m) => m.channel === 'rt/min');
      assert.deepEqual(Object.keys(loadedMinimal ?? {}).sort(), ['channel', 'payload', 'qos', 'retain']);
      const loadedFull = state.retained.find((m) => m.channel === 'rt/full');
      assert.ok(Buffer.isBuffer(loadedFull?.payload), 'payloads come back as Buffer');
      assert.ok(Buffer.isBuffer(loadedFull?.properties?.correlationData), 'binary properties stay binary');
      store.close();
    });

    test('close() commits what is pending', () => {
      let { dir, store } = fresh();
      store.putRetained(msg('r/pending'));
      store = reopen(store, dir);
      assert.deepEqual(
        store.load(EARLY).retained.map((m) => m.channel),
        ['r/pending'],
      );
      store.close();
      store.close();
    });

    test('sizeBytes() counts what is stored', () => {
      let { dir, store } = fresh();
      store.putRetained(msg('r/big', { payload: Buffer.alloc(200_000, 1) }));
      store.commit();
      assert.ok(store.sizeBytes() >= 200_000, `sizeBytes ${store.sizeBytes()}`);
      store = restart(store, dir);
      assert.ok(store.sizeBytes() >= 200_000, `sizeBytes ${store.sizeBytes()} after reopen`);
      store.close();
    });
  });
}

const dbPath = (dir: string): string => join(dir, 'pulse.db');

contract(
  'memory',
  () => new MemoryStore(),
  (store) => store,
);
contract(
  'sqlite',
  (dir) => SqliteStore.open(dbPath(dir), 'balanced'),
  (store, dir) => {
    store.close();
    return SqliteStore.open(dbPath(dir), 'balanced');
  },
);

/** The StoreOpenError thrown by `fn`, checked to be one line naming the path. */
function openError(
  path: string,
  fn: () => unknown = () => SqliteStore.open(path, 'balanced'),
): StoreOpenError {
  let error: unknown;
  try {
    const store = fn() as Store | undefined;
    store?.close();
  } catch (err) {
    error = err;
  }
  assert.ok(error instanceof StoreOpenError, `expected a StoreOpenError, got ${String(error)}`);
  assert.ok(error.message.startsWith(`storage: cannot open ${JSON.stringify(path)}: `), error.message);
  assert.ok(!error.message.includes('\n'), 'one line');
  return error;
}

const moduleUrl = new URL('../src/storage/sqlite-store.js', import.meta.url).href;

/** Runs an ES module script in a child process with STORE_PATH set. */
function child(script: string, path: string): ReturnType<typeof spawnSync> {
  return spawnSync(
    process.execPath,
    ['--input-type=module', '-e', `import { SqliteStore } from ${JSON.stringify(moduleUrl)};\n${script}`],
    { env: { ...process.env, STORE_PATH: path }, encoding: 'utf8', timeout: 20_000 },
  );
}

describe('SqliteStore', () => {
  test('writes wait for commit(); a killed process keeps exactly what it committed', () => {
    const path = dbPath(newDir());
    const result = child(
      `
      const store = SqliteStore.open(process.env.STORE_PATH, 'balanced');
      const m = (channel) => ({ channel, payload: Buffer.from(channel), qos: 1, retain: false });
      store.putSession({ clientId: 'kept', expiryInterval: 60, subscriptions: [] });
      store.putRetained(m('r/kept'));
      store.commit();
      store.putInflight('kept', { packetId: 1, state: 'publish', message: m('x'), qos: 1, retain: false });
      store.putSession({ clientId: 'lost', expiryInterval: 60, subscriptions: [] });
      store.putRetained(m('r/lost'));
      store.deleteRetained('r/kept');
      process.stdout.write('dirty=' + store.dirty + '\\n');
      process.kill(process.pid, 'SIGKILL');
      `,
      path,
    );
    assert.equal(result.signal, 'SIGKILL', String(result.stderr));
    assert.equal(result.stdout, 'dirty=true\n');
    const store = SqliteStore.open(path, 'balanced');
    const state = store.load(NOW);
    assert.deepEqual(clientIds(state), ['kept']);
    assert.deepEqual(sessionOf(state, 'kept')?.inflight, []);
    assert.deepEqual(
      state.retained.map((m) => m.channel),
      ['r/kept'],
    );
    store.close();
  });

  test('recoveredFromCrash: true after a process killed with the store open, false after a clean close', () => {
    const path = dbPath(newDir());
    SqliteStore.open(path, 'fast').close();
    const killed = child(
      `
      const store = SqliteStore.open(process.env.STORE_PATH, 'fast');
      store.putRetained({ channel: 'r/kept', payload: Buffer.from('x'), qos: 0, retain: true });
      store.commit();
      process.stdout.write('crashed=' + store.recoveredFromCrash + '\\n');
      process.kill(process.pid, 'SIGKILL');
      `,
      path,
    );
    assert.equal(killed.signal, 'SIGKILL', String(killed.stderr));
    assert.equal(killed.stdout, 'crashed=false\n');
    const after = SqliteStore.open(path, 'fast');
    assert.equal(after.recoveredFromCrash, true);
    assert.deepEqual(
      after.load(NOW).retained.map((m) => m.channel),
      ['r/kept'],
    );
    after.close();
    // Closed cleanly this time.
    const again = SqliteStore.open(path, 'balanced');
    assert.equal(again.recoveredFromCrash, false);
    again.close();
  });

  test('dirty is true while writes wait; commit() with nothing pending does nothing', () => {
    const store = SqliteStore.open(dbPath(newDir()), 'balanced');
    assert.equal(store.dirty, false);
    store.commit();
    store.putRetained(msg('r/a'));
    assert.equal(store.dirty, true);
    store.commit();
    assert.equal(store.dirty, false);
    store.close();
    store.close();
    assert.throws(() => {
      store.putRetained(msg('r/b'));
      store.commit();
    }, /closed/);
  });

  test('a second open of an open store fails at open: locked (same process and another process)', () => {
    const path = dbPath(newDir());
    const first = SqliteStore.open(path, 'balanced');
    assert.match(openError(path).message, /locked by another process/);
    const result = child(
      `try { SqliteStore.open(process.env.STORE_PATH, 'balanced'); console.log('opened'); }
       catch (err) { console.log(err.name + ': ' + err.message); }`,
      path,
    );
    assert.match(String(result.stdout), /^StoreOpenError: .*locked by another process/);
    first.putRetained(msg('r/first'));
    first.close();
    const again = SqliteStore.open(path, 'balanced');
    assert.deepEqual(
      again.load(NOW).retained.map((m) => m.channel),
      ['r/first'],
    );
    again.close();
  });

  test('a file that is not a database is refused and left as it was', () => {
    const path = dbPath(newDir());
    const text = 'this is not a database\n'.repeat(200);
    writeFileSync(path, text);
    assert.match(openError(path).message, /not a SQLite database/);
    assert.equal(readFileSync(path, 'utf8'), text);
    assert.equal(existsSync(`${path}-wal`), false);
  });

  test('a SQLite database of another application is refused and left as it was', () => {
    const dir = newDir();
    const path = dbPath(dir);
    const other = new Database(path);
    other.exec("CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO things VALUES (1, 'x')");
    other.pragma('application_id = 42');
    other.close();
    const error = openError(path);
    assert.match(error.message, /belongs to another application \(application_id 0x2a/);
    const check = new Database(path, { readonly: true });
    assert.equal(check.pragma('journal_mode', { simple: true }), 'delete');
    assert.deepEqual(check.prepare('SELECT name FROM things').pluck().all(), ['x']);
    check.close();

    // No application id, but tables: not ours either.
    const path0 = join(dir, 'zero.db');
    const zero = new Database(path0);
    zero.exec('CREATE TABLE t (x)');
    zero.close();
    assert.match(openError(path0).message, /another application \(application_id 0x0, tables: t\)/);
  });

  test('a store written by a newer schema version is refused', () => {
    const path = dbPath(newDir());
    SqliteStore.open(path, 'balanced').close();
    const db = new Database(path);
    db.pragma('user_version = 2');
    db.close();
    assert.match(openError(path).message, /newer Pulse \(schema version 2/);
  });

  test('a corrupt database is refused, never opened empty', () => {
    const path = dbPath(newDir());
    const store = SqliteStore.open(path, 'balanced');
    store.putSession(session('c'));
    for (let i = 0; i < 300; i++) {
      store.putRetained(msg(`r/${i}`, { payload: Buffer.alloc(500, i) }));
      store.putQueued('c', queued(i));
    }
    store.close();
    const bytes = readFileSync(path);
    assert.ok(bytes.length > 8 * 4096, `file of ${bytes.length} bytes`);
    for (let i = 4096; i < bytes.length; i++) bytes[i] = (i * 7919) & 0xff;
    writeFileSync(path, bytes);
    assert.match(openError(path).message, /database is corrupt|not a SQLite database/);
  });

  test('a directory that cannot be created is a StoreOpenError', () => {
    const dir = newDir();
    writeFileSync(join(dir, 'file'), 'x');
    const path = join(dir, 'file', 'sub', 'pulse.db');
    assert.match(openError(path).message, /cannot create directory .*\(ENOTDIR\)/);
    assert.match(openError(dir).message, /is a directory/);
  });

  test(
    'a directory under one that cannot hold it is refused at once (procfs), and a file in the way is ENOTDIR',
    { timeout: 10_000 },
    () => {
      // Node's recursive mkdirSync never returns for /proc/nope/...: the server hung without a line.
      const started = performance.now();
      assert.match(
        openError('/proc/nope/pulse/pulse.db').message,
        /cannot create directory "\/proc\/nope\/pulse" \(ENOENT\)/,
      );
      assert.ok(performance.now() - started < 5000);
      const dir = newDir();
      writeFileSync(join(dir, 'file'), 'x');
      assert.match(openError(join(dir, 'file', 'pulse.db')).message, /cannot create directory .*\(ENOTDIR\)/);
    },
  );

  test('symbolic links where the directory goes: one to nothing is ENOENT, a loop ELOOP (not "not writable"); one to a directory is followed', () => {
    const dir = newDir();
    symlinkSync(join(dir, 'nothing'), join(dir, 'dangling'));
    symlinkSync('loop-b', join(dir, 'loop-a'));
    symlinkSync('loop-a', join(dir, 'loop-b'));
    mkdirSync(join(dir, 'real'));
    symlinkSync('real', join(dir, 'link'));
    assert.match(
      openError(join(dir, 'dangling', 'pulse.db')).message,
      /cannot create directory ".*dangling" \(ENOENT\)$/,
    );
    assert.match(openError(join(dir, 'dangling', 'sub', 'pulse.db')).message, /\(ENOENT\)$/);
    assert.match(openError(join(dir, 'loop-a', 'pulse.db')).message, /cannot create directory .*\(ELOOP\)$/);
    const store = SqliteStore.open(join(dir, 'link', 'sub', 'pulse.db'), 'strict');
    store.close();
    assert.ok(statSync(join(dir, 'real', 'sub', 'pulse.db')).isFile());
  });

  test(
    'a path far longer than the system takes (400 KB of short levels) is refused at once, ENAMETOOLONG, in one short line',
    { timeout: 20_000 },
    () => {
      // Made from the deepest level up, every level of it was looked at: 4 s for 120 KB, minutes for this.
      const dir = newDir();
      const path = `${dir}${'/a'.repeat(200_000)}/pulse.db`;
      const started = performance.now();
      let error: unknown;
      try {
        SqliteStore.open(path, 'balanced').close();
      } catch (err) {
        error = err;
      }
      assert.ok(performance.now() - started < 5000, `${Math.round(performance.now() - started)} ms`);
      assert.ok(error instanceof StoreOpenError, String(error));
      assert.match(error.message, /^storage: cannot open ".*a\/a\/pulse\.db" \(400\d+ characters\): /);
      assert.match(error.message, /cannot create directory .*\(ENAMETOOLONG\)$/);
      assert.ok(error.message.length < 800, `${error.message.length} characters`);
      assert.ok(!error.message.includes('\n'));
      assert.deepEqual(readdirSync(dir), [], 'the levels that could be made were removed');
    },
  );

  test('a missing parent directory is created', () => {
    const path = join(newDir(), 'a', 'b', 'pulse.db');
    const store = SqliteStore.open(path, 'strict');
    store.close();
    assert.ok(statSync(path).isFile());
  });

  test('commit policies set synchronous; files are WAL mode Pulse stores', () => {
    const dir = newDir();
    const expected = { strict: 2, balanced: 1, fast: 1 } as const;
    for (const policy of ['strict', 'balanced', 'fast'] as const) {
      const path = join(dir, `${policy}.db`);
      const store = SqliteStore.open(path, policy);
      assert.equal(store.synchronous, expected[policy], policy);
      assert.equal(store.commitPolicy, policy);
      assert.equal(store.engine, 'sqlite');
      store.putRetained(msg('r'));
      store.commit();
      assert.ok(existsSync(`${path}-wal`), 'commits go to the WAL');
      store.close();
      const header = readFileSync(path).subarray(0, 20);
      assert.deepEqual([header[18], header[19]], [2, 2], 'WAL mode in the header');
      const db = new Database(path, { readonly: true });
      assert.equal(db.pragma('application_id', { simple: true }), 0x50554c53);
      assert.equal(db.pragma('user_version', { simple: true }), 1);
      db.close();
    }
  });

  test('openStore picks the engine from the configuration', () => {
    const dir = newDir();
    const storage = defaultConfig().storage;
    assert.ok(openStore({ ...storage, engine: 'memory' }) instanceof MemoryStore);
    const sqlite = openStore({
      ...storage,
      engine: 'sqlite',
      path: join(dir, 's', 'x.db'),
      commit_policy: 'strict',
    });
    assert.ok(sqlite instanceof SqliteStore);
    assert.equal(sqlite.commitPolicy, 'strict');
    sqlite.close();
    assert.ok(existsSync(join(dir, 's', 'x.db')));
    const wal = openStore({ ...storage, engine: 'wal', wal_dir: join(dir, 'w') });
    assert.ok(wal instanceof SqliteStore);
    wal.close();
    assert.ok(existsSync(join(dir, 'w', 'pulse.db')));
  });
});
