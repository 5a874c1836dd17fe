import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { type Publication, PulseClient } from '@pulse/client';
import Database from 'better-sqlite3';
import WebSocket from 'ws';
import { type Harness, Inbox, freePort, startServer, wsClient } from './helpers.js';
import { type PulseProcess, spawnPulse } from './pulse-process.js';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
const storeFile = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-history-restart-'));
  dirs.push(dir);
  return join(dir, 'pulse.db');
};

const RULES = [{ pattern: 'h/#', size: 100, ttl_ms: 0 }];
const text = (p: Publication) => Buffer.from(p.payload).toString();

/** A server on the SQLite file `path`, with `history` tables (none: `[]`). */
function boot(path: string, history: typeof RULES, maxChannels?: number): Promise<Harness> {
  return startServer({
    history,
    storage: { engine: 'sqlite', path },
    ...(maxChannels === undefined ? {} : { limits: { max_channels: maxChannels } }),
  });
}

async function publishAll(h: Harness, channel: string, texts: string[]): Promise<void> {
  const c = await wsClient(h);
  for (const t of texts) await c.publish(channel, t);
  await c.close();
}

function storedStreams(path: string): { channel: string; epoch: string; offset: number }[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare('SELECT channel, epoch, "offset" AS "offset" FROM streams ORDER BY channel').all() as {
      channel: string;
      epoch: string;
      offset: number;
    }[];
  } finally {
    db.close();
  }
}

describe('history across restarts with changed [[history]] tables', () => {
  test('a restart without tables deletes stored history: publications made meanwhile are not claimed as recovered', async () => {
    const path = storeFile();
    let h = await boot(path, RULES);
    await publishAll(h, 'h/x', ['a1', 'a2', 'a3']);
    const c = await wsClient(h);
    const before = await c.history('h/x');
    await c.close();
    assert.equal(before.offset, 3);
    await h.stop();

    // History off: these are delivered but kept nowhere.
    h = await boot(path, []);
    await publishAll(h, 'h/x', ['B1', 'B2']);
    await h.stop();
    assert.deepEqual(storedStreams(path), [], 'removing every table deletes the stored streams');

    h = await boot(path, RULES);
    try {
      const sub = await wsClient(h);
      const inbox = new Inbox<Publication>();
      const result = await sub.subscribe('h/x', inbox.push, {
        recover: { offset: before.offset, epoch: before.epoch },
      });
      assert.equal(result.recovered, false, 'B1 and B2 were missed and cannot be recovered');
      assert.notEqual(result.epoch, before.epoch);
      assert.equal(result.offset, 0);
      await sub.publish('h/x', 'c1');
      const [next] = await inbox.waitFor(1);
      assert.ok(next !== undefined);
      assert.deepEqual([text(next), next.offset, next.epoch], ['c1', 1, result.epoch]);
      await sub.close();
    } finally {
      await h.stop();
    }
  });

  test('a restart whose tables no longer cover a channel deletes its stream; it comes back with a new epoch', async () => {
    const path = storeFile();
    let h = await boot(path, [...RULES, { pattern: 'k/#', size: 100, ttl_ms: 0 }]);
    await publishAll(h, 'h/x', ['a1']);
    await publishAll(h, 'k/x', ['k1', 'k2']);
    const c = await wsClient(h);
    const before = await c.history('h/x');
    await c.close();
    await h.stop();

    h = await boot(path, [{ pattern: 'k/#', size: 100, ttl_ms: 0 }]);
    await publishAll(h, 'h/x', ['B1']);
    await h.stop();
    assert.deepEqual(
      storedStreams(path).map((s) => s.channel),
      ['k/x'],
    );

    h = await boot(path, RULES);
    try {
      const sub = await wsClient(h);
      const result = await sub.subscribe('h/x', () => {}, { recover: before });
      assert.equal(result.recovered, false);
      assert.notEqual(result.epoch, before.epoch);
      await sub.close();
    } finally {
      await h.stop();
    }
  });

  test('streams evicted past limits.max_channels are deleted; a restart keeps the most recently used ones', async () => {
    const path = storeFile();
    let h = await boot(path, RULES, 2);
    await publishAll(h, 'h/b', ['b1']);
    await publishAll(h, 'h/c', ['c1']);
    await publishAll(h, 'h/a', ['a1', 'a2']); // evicts h/b, the least recently appended
    const c = await wsClient(h);
    const a = await c.history('h/a');
    const cc = await c.history('h/c');
    await c.close();
    await h.stop();
    assert.deepEqual(
      storedStreams(path).map((s) => s.channel),
      ['h/a', 'h/c'],
    );

    h = await boot(path, RULES, 2);
    try {
      const sub = await wsClient(h);
      const inbox = new Inbox<Publication>();
      const result = await sub.subscribe('h/a', inbox.push, { recover: { offset: 0, epoch: a.epoch } });
      assert.deepEqual(result, { recovered: true, offset: 2, epoch: a.epoch });
      assert.deepEqual((await inbox.waitFor(2)).map(text), ['a1', 'a2']);
      assert.equal((await sub.history('h/c')).epoch, cc.epoch);
      await sub.close();
    } finally {
      await h.stop();
    }
  });
});

describe('history after kill -9 under commit_policy = fast', () => {
  test('streams restart with new epochs: a client recovering gets recovered:false, never reused offsets', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pulse-fast-history-'));
    dirs.push(dir);
    const config = join(dir, 'pulse.toml');
    writeFileSync(config, '[[history]]\npattern = "h/#"\nsize = 100\n');
    const httpPort = await freePort();
    const args = [
      '--config',
      config,
      '--sqlite',
      join(dir, 'pulse.db'),
      '--storage-commit-policy',
      'fast',
      '--storage-flush-interval-ms',
      '300',
      '--port',
      String(httpPort),
      '--tcp-port',
      '0',
      '--metrics-port',
      '0',
      '--mqtt-port',
      '0',
    ];
    const url = `ws://127.0.0.1:${httpPort}/ws`;
    const connect = () => PulseClient.connect(url, { WebSocket: WebSocket as never });
    const start = async (): Promise<PulseProcess> => {
      const p = spawnPulse(args);
      await p.ready;
      return p;
    };
    let pulse = await start();
    try {
      let c = await connect();
      await c.publish('h/x', 'm1');
      await c.publish('h/x', 'm2');
      await new Promise((r) => setTimeout(r, 600)); // committed by the interval
      // Acknowledged at once, committed at the next interval: the kill lands before it.
      await c.publish('h/x', 'm3');
      await c.publish('h/x', 'm4');
      const seen = await c.history('h/x');
      assert.equal(seen.offset, 4);
      c.close();
      await pulse.kill();

      pulse = await start();
      c = await connect();
      const inbox = new Inbox<Publication>();
      const result = await c.subscribe('h/x', inbox.push, { recover: { offset: 2, epoch: seen.epoch } });
      assert.equal(result.recovered, false, 'the old epoch may have lost m3 and m4');
      assert.notEqual(result.epoch, seen.epoch, 'a new epoch after the crash');
      const kept = await c.history('h/x');
      assert.equal(kept.epoch, result.epoch);
      assert.deepEqual(
        kept.publications.slice(0, 2).map((p) => [p.offset, text(p), p.epoch]),
        [
          [1, 'm1', result.epoch],
          [2, 'm2', result.epoch],
        ],
        'what was committed is kept at its offsets, under the new epoch',
      );
      await c.publish('h/x', 'next');
      const [next] = await inbox.waitFor(1);
      assert.ok(next !== undefined);
      assert.equal(next.epoch, result.epoch);
      assert.equal(next.offset, (result.offset as number) + 1);
      c.close();

      // A clean stop is not a crash: the next start keeps the epoch.
      pulse.child.kill('SIGTERM');
      assert.equal(await pulse.exited, 0);
      pulse = await start();
      c = await connect();
      const again = await c.subscribe('h/x', () => {}, {
        recover: { offset: next.offset as number, epoch: result.epoch as string },
      });
      assert.deepEqual(again, { recovered: true, offset: next.offset, epoch: result.epoch });
      c.close();
    } finally {
      await pulse.kill();
    }
  });
});
