import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Publication, type PulseClient, PulseError } from '@pulse/client';
import { MemoryStore } from '@pulse/core';
import type { Frame } from '@pulse/protocol';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import { pino } from 'pino';
import { defaultConfig } from '../src/config/index.js';
import { PulseServer } from '../src/server.js';
import {
  type Harness,
  Inbox,
  RawWs,
  freePort,
  metricValue,
  retryOnPortClash,
  scrape,
  sleep,
  startServer,
  tcpClient,
  wsClient,
} from './helpers.js';
import { startMqtt } from './mqtt-helpers.js';

const HISTORY = [
  { pattern: 'chat:*', size: 10_000, ttl_ms: 0 },
  { pattern: 'small/#', size: 5, ttl_ms: 0 },
  { pattern: 'ttl:*', size: 100, ttl_ms: 200 },
];

let h: Harness;
before(async () => {
  h = await startServer({ history: HISTORY });
});
after(() => h.stop());

const text = (p: Publication) => Buffer.from(p.payload).toString();
const offsetsOf = (ps: Publication[]) => ps.map((p) => p.offset as number);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function publishN(client: PulseClient, channel: string, n: number, prefix = 'm'): Promise<void> {
  for (let i = 1; i <= n; i++) await client.publish(channel, `${prefix}${i}`);
}

async function errorCode(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof PulseError, String(err));
    return err.code;
  }
  assert.fail('expected an error');
}

describe('native history: offsets and epochs', () => {
  test('deliveries carry offsets from 1, one epoch; the subscribe ack gives the position', async () => {
    const sub = await wsClient(h);
    const pub = await tcpClient(h);
    const inbox = new Inbox<Publication>();
    const ack = await sub.subscribe('chat:offsets', inbox.push);
    assert.equal(ack.offset, 0);
    assert.equal(typeof ack.epoch, 'string');
    assert.equal(ack.recovered, undefined);
    await publishN(pub, 'chat:offsets', 20);
    const got = await inbox.waitFor(20);
    assert.deepEqual(offsetsOf(got), range(1, 20));
    assert.deepEqual(new Set(got.map((p) => p.epoch)), new Set([ack.epoch]));
    assert.deepEqual(sub.lastPosition('chat:offsets'), { offset: 20, epoch: ack.epoch });
    // A second subscriber learns the current position.
    const late = await tcpClient(h);
    assert.deepEqual(await late.subscribe('chat:offsets', () => {}), { offset: 20, epoch: ack.epoch });
    await Promise.all([sub.close(), pub.close(), late.close()]);
  });

  test('channels without a rule carry no offset; their subscribe ack is plain', async () => {
    const raw = await RawWs.open(h.wsUrl);
    raw.send({ type: 'subscribe', id: 1, channel: 'plain' });
    assert.deepEqual(await raw.frame(1), { type: 'ack', id: 1 });
    raw.send({ type: 'publish', channel: 'plain', payload: Buffer.from('x') });
    const p = (await raw.frame(2)) as Frame & { type: 'publish' };
    assert.equal(p.type, 'publish');
    assert.equal(p.offset, undefined);
    assert.equal(p.epoch, undefined);
    raw.ws.close();
  });
});

describe('native history: recovery', () => {
  test('the ack, then exactly the missed publications, in one go (raw frames)', async () => {
    const pub = await wsClient(h);
    await publishN(pub, 'chat:raw', 6);
    const epoch = (await pub.history('chat:raw')).epoch;
    const raw = await RawWs.open(h.wsUrl);
    raw.send({ type: 'subscribe', id: 5, channel: 'chat:raw', recover: { offset: 2, epoch } });
    const frames = await raw.frames.waitFor(6);
    assert.deepEqual(frames[1], { type: 'ack', id: 5, recovered: true, offset: 6, epoch });
    const recovered = frames.slice(2) as (Frame & { type: 'publish' })[];
    assert.deepEqual(
      recovered.map((f) => [f.type, f.channel, f.offset, f.epoch, Buffer.from(f.payload).toString()]),
      [3, 4, 5, 6].map((o) => ['publish', 'chat:raw', o, epoch, `m${o}`]),
    );
    raw.ws.close();
    await pub.close();
  });

  test('a client that missed N publications gets exactly them, then live ones, while a publisher runs at full speed', async () => {
    const channel = 'chat:race';
    const sub = await tcpClient(h);
    const first = new Inbox<Publication>();
    await sub.subscribe(channel, first.push);
    const pub = await wsClient(h);
    await publishN(pub, channel, 10, 'before');
    await first.waitFor(10);
    const position = sub.lastPosition(channel);
    assert.equal(position?.offset, 10);
    await sub.close();

    await publishN(pub, channel, 50, 'missed');

    // A second publisher floods the channel from now until after the recovery.
    const flooder = await tcpClient(h);
    let flooding = true;
    let flooded = 0;
    const flood = (async () => {
      while (flooding) {
        for (let i = 0; i < 20; i++) flooder.publish(channel, `live${flooded++}`, { ack: false });
        await flooder.publish(channel, `live${flooded++}`);
      }
    })();
    await sleep(30);

    const again = await wsClient(h);
    const inbox = new Inbox<Publication>();
    const result = await again.subscribe(channel, inbox.push, { recover: position });
    assert.equal(result.recovered, true);
    assert.equal(result.epoch, position?.epoch);
    assert.ok((result.offset as number) >= 60, `position ${result.offset}`);
    await sleep(50);
    flooding = false;
    await flood;
    await pub.publish(channel, 'last');
    const top = (await pub.history(channel, { limit: 1 })).offset;
    await inbox.waitFor(top - 10, 10_000);
    await sleep(20);
    const got = inbox.items;
    assert.deepEqual(offsetsOf(got), range(11, top), 'contiguous, no gap, no duplicate');
    assert.deepEqual(
      got.slice(0, 50).map(text),
      range(1, 50).map((i) => `missed${i}`),
    );
    assert.equal(text(at(got, got.length - 1)), 'last');
    assert.ok(flooded > 50, `the flood published ${flooded}`);
    assert.ok(
      top > (result.offset as number) + 20,
      `live publications after the recovery: ${top - (result.offset as number)}`,
    );
    assert.ok(got.every((p) => p.epoch === position?.epoch));
    await Promise.all([pub.close(), flooder.close(), again.close()]);
  });

  test('recovering from the exact top: recovered with nothing to send', async () => {
    const pub = await wsClient(h);
    await publishN(pub, 'chat:top', 3);
    const { epoch } = await pub.history('chat:top');
    const sub = await wsClient(h);
    const inbox = new Inbox<Publication>();
    const result = await sub.subscribe('chat:top', inbox.push, { recover: { offset: 3, epoch } });
    assert.deepEqual(result, { recovered: true, offset: 3, epoch });
    await pub.publish('chat:top', 'next');
    const [next] = await inbox.waitFor(1);
    assert.ok(next !== undefined);
    assert.equal(next.offset, 4);
    assert.equal(inbox.items.length, 1);
    await Promise.all([pub.close(), sub.close()]);
  });

  test('not recovered: epoch mismatch, offset beyond the top, gap bigger than size; live ones still flow', async () => {
    const pub = await wsClient(h);
    await publishN(pub, 'small/a', 10);
    const { epoch } = await pub.history('small/a');
    const cases = [
      { offset: 9, epoch: 'not-the-epoch' },
      { offset: 11, epoch },
      { offset: 2, epoch }, // only 6..10 are kept
    ];
    for (const recover of cases) {
      const sub = await tcpClient(h);
      const inbox = new Inbox<Publication>();
      const result = await sub.subscribe('small/a', inbox.push, { recover });
      assert.deepEqual(result, { recovered: false, offset: 10, epoch }, JSON.stringify(recover));
      await sleep(20);
      assert.equal(inbox.items.length, 0, 'nothing recovered is sent');
      await sub.close();
    }
    // The oldest kept entry is still recoverable from.
    const sub = await tcpClient(h);
    const inbox = new Inbox<Publication>();
    const result = await sub.subscribe('small/a', inbox.push, { recover: { offset: 5, epoch } });
    assert.equal(result.recovered, true);
    await pub.publish('small/a', 'live');
    assert.deepEqual(offsetsOf(await inbox.waitFor(6)), range(6, 11));
    await Promise.all([pub.close(), sub.close()]);
  });

  test('not recovered once the missed publications expired (ttl_ms)', async () => {
    const pub = await wsClient(h);
    await publishN(pub, 'ttl:a', 3);
    const { epoch } = await pub.history('ttl:a');
    const sub = await wsClient(h);
    const fresh = await sub.subscribe('ttl:a', () => {}, { recover: { offset: 1, epoch } });
    assert.equal(fresh.recovered, true);
    await sub.unsubscribe('ttl:a');
    await sleep(300);
    const stale = await sub.subscribe('ttl:a', () => {}, { recover: { offset: 1, epoch } });
    assert.deepEqual(stale, { recovered: false, offset: 3, epoch });
    assert.deepEqual((await pub.history('ttl:a')).publications, []);
    await Promise.all([pub.close(), sub.close()]);
  });

  test('recover on a channel without history, or with a wildcard filter: recovered false', async () => {
    const sub = await wsClient(h);
    const recover = { offset: 1, epoch: 'x' };
    assert.deepEqual(await sub.subscribe('plain:x', () => {}, { recover }), { recovered: false });
    assert.deepEqual(await sub.subscribe('small/+', () => {}, { recover }), { recovered: false });
    assert.deepEqual(await sub.subscribe('small/#', () => {}), {});
    await sub.close();
  });
});

describe('native history: the history frame', () => {
  test('newest by default, since/limit page forward, and publications carry offset/event/payload', async () => {
    const pub = await wsClient(h);
    for (let i = 1; i <= 150; i++) await pub.publish('chat:paged', `p${i}`, i === 150 ? { event: 'e' } : {});
    const newest = await pub.history('chat:paged');
    assert.equal(newest.offset, 150);
    assert.deepEqual(offsetsOf(newest.publications), range(51, 150));
    assert.equal(at(newest.publications, 99).event, 'e');
    assert.equal(at(newest.publications, 0).event, undefined);
    assert.equal(at(newest.publications, 0).channel, 'chat:paged');
    assert.equal(at(newest.publications, 0).epoch, newest.epoch);
    assert.equal(text(at(newest.publications, 0)), 'p51');
    const seen: number[] = [];
    let since = { offset: 0, epoch: newest.epoch };
    for (;;) {
      const page = await pub.history('chat:paged', { since, limit: 40 });
      if (page.publications.length === 0) break;
      assert.ok(page.publications.length <= 40);
      seen.push(...offsetsOf(page.publications));
      since = { offset: at(seen, seen.length - 1), epoch: page.epoch };
    }
    assert.deepEqual(seen, range(1, 150));
    const other = await pub.history('chat:paged', { since: { offset: 140, epoch: 'old' }, limit: 3 });
    assert.deepEqual(offsetsOf(other.publications), [1, 2, 3]);
    assert.equal(other.epoch, newest.epoch);
    await pub.close();
  });

  test('errors: no history 1005, invalid channel 1002, limit out of range 1001', async () => {
    const c = await wsClient(h);
    assert.equal(await errorCode(c.history('plain')), 1005);
    assert.equal(await errorCode(c.history('$SYS/broker/uptime')), 1005);
    assert.equal(await errorCode(c.history('chat/+/x')), 1002);
    assert.equal(await errorCode(c.history('')), 1002);
    assert.equal(await errorCode(c.history('chat:x', { limit: 0 })), 1001);
    assert.equal(await errorCode(c.history('chat:x', { limit: 1001 })), 1001);
    assert.equal((await c.history('chat:x', { limit: 1000 })).offset, 0);
    const raw = await RawWs.open(h.wsUrl);
    raw.send({ type: 11, id: 3, channel: 'chat:x', limit: 1.5 });
    assert.deepEqual(
      { ...(await raw.frame(1)), message: undefined },
      { type: 'error', id: 3, code: 1001, message: undefined },
    );
    raw.send({ type: 'history', id: 4, channel: 'chat:x' });
    const ack = (await raw.frame(2)) as Frame & { type: 'ack' };
    assert.deepEqual(ack.publications, []);
    raw.ws.close();
    await c.close();
  });

  test('metrics count streams and entries', async () => {
    const body = await scrape(h);
    assert.ok(metricValue(body, 'pulse_history_streams') >= 1);
    assert.ok(metricValue(body, 'pulse_history_entries') >= 1);
  });
});

describe('native history: across restarts and protocols', () => {
  /** Publishes 5, restarts, recovers from 3, publishes one more: same epoch, offsets continue. */
  async function survivesRestart(storage: { store?: MemoryStore; sqlitePath?: string }): Promise<void> {
    const boot = () =>
      retryOnPortClash(async () => {
        const config = defaultConfig();
        config.server.host = '127.0.0.1';
        config.server.port = 0;
        config.transport.tcp_port = await freePort();
        config.metrics.port = 0;
        config.mqtt.port = 0;
        config.log.report_interval_ms = 0;
        config.server.shutdown_drain_timeout_ms = 500;
        config.history = [{ pattern: 'chat:*', size: 100, ttl_ms: 0 }];
        if (storage.sqlitePath) {
          config.storage.engine = 'sqlite';
          config.storage.path = storage.sqlitePath;
        }
        const server = new PulseServer(config, { logger: pino({ level: 'silent' }), store: storage.store });
        const addr = await server.start();
        return { server, url: `ws://127.0.0.1:${addr.http.port}/ws` };
      });
    const connect = (url: string) => wsClient({ wsUrl: url } as Harness);

    const one = await boot();
    const a = await connect(one.url);
    await publishN(a, 'chat:durable', 5);
    const { epoch } = await a.history('chat:durable');
    await a.close();
    await one.server.stop();

    const two = await boot();
    const b = await connect(two.url);
    const inbox = new Inbox<Publication>();
    const result = await b.subscribe('chat:durable', inbox.push, { recover: { offset: 3, epoch } });
    assert.deepEqual(result, { recovered: true, offset: 5, epoch });
    await b.publish('chat:durable', 'after restart');
    const got = await inbox.waitFor(3);
    assert.deepEqual(got.map(text), ['m4', 'm5', 'after restart']);
    assert.deepEqual(offsetsOf(got), [4, 5, 6]);
    assert.ok(got.every((p) => p.epoch === epoch));
    await b.close();
    await two.server.stop();
  }

  test('history survives a stop/start with the same MemoryStore: same epoch, offsets continue', async () => {
    await survivesRestart({ store: new MemoryStore() });
  });

  test('history survives a restart on SQLite: same epoch, offsets continue', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pulse-history-'));
    try {
      await survivesRestart({ sqlitePath: join(dir, 'pulse.db') });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an MQTT publisher on a history channel gets offsets too', async () => {
    const m = await startMqtt({ history: [{ pattern: 'chat:*', size: 10, ttl_ms: 0 }] });
    try {
      const sub = await wsClient(m);
      const inbox = new Inbox<Publication>();
      const { epoch } = await sub.subscribe('chat:mqtt', inbox.push);
      const client = await mqtt.connectAsync(m.tcpUrl, { clientId: 'history-pub', reconnectPeriod: 0 });
      await client.publishAsync('chat:mqtt', 'one', { qos: 1 });
      await client.publishAsync('chat:mqtt', 'two', { qos: 0 });
      const got = await inbox.waitFor(2);
      assert.deepEqual(
        got.map((p) => [text(p), p.offset, p.epoch]),
        [
          ['one', 1, epoch],
          ['two', 2, epoch],
        ],
      );
      const page = await sub.history('chat:mqtt');
      assert.deepEqual(page.publications.map(text), ['one', 'two']);
      await client.endAsync();
      await sub.close();
    } finally {
      await m.stop();
    }
  });
});

describe('history replies fit the connection budget (one budget for native and JSON)', () => {
  test('native and JSON keep the newest that fit without a position, the oldest that fit paging forward, always one', async () => {
    const small = await startServer({ history: HISTORY, limits: { max_outbound_bytes: 50_000 } });
    try {
      const pub = await tcpClient(small);
      // JSON text, so that the JSON reply embeds it as is: about the same size in both protocols.
      const payload = (i: number) => Buffer.from(JSON.stringify(`${i}`.repeat(20_000)));
      for (let i = 1; i <= 6; i++) await pub.publish('chat:fit', payload(i));
      await pub.publish('chat:one', Buffer.from(JSON.stringify('z'.repeat(60_000))));
      const newest = await pub.history('chat:fit');
      assert.deepEqual(offsetsOf(newest.publications), [5, 6], 'two of 20 KB fit 50 KB, the newest');
      assert.deepEqual(Buffer.from(at(newest.publications, 1).payload), payload(6));
      const forward = await pub.history('chat:fit', { since: { offset: 0, epoch: newest.epoch } });
      assert.deepEqual(offsetsOf(forward.publications), [1, 2], 'paging forward: the oldest that fit');
      assert.deepEqual(
        offsetsOf((await pub.history('chat:one')).publications),
        [1],
        'one even past the budget',
      );

      const ws = new WebSocket(small.wsUrl);
      await once(ws, 'open');
      const ask = async (id: number, params: object) => {
        ws.send(JSON.stringify({ id, method: 'history', params }));
        for (;;) {
          const [data] = (await once(ws, 'message')) as [Buffer];
          const reply = JSON.parse(data.toString());
          if (reply.id === id) return reply.result as { publications: { offset: number; data: string }[] };
        }
      };
      const offsets = (r: { publications: { offset: number }[] }) => r.publications.map((p) => p.offset);
      const jsonNewest = await ask(1, { channel: 'chat:fit' });
      assert.deepEqual(offsets(jsonNewest), [5, 6]);
      assert.equal(at(jsonNewest.publications, 1).data, '6'.repeat(20_000));
      const since = { offset: 0, epoch: newest.epoch };
      assert.deepEqual(offsets(await ask(2, { channel: 'chat:fit', since })), [1, 2]);
      assert.deepEqual(offsets(await ask(3, { channel: 'chat:one' })), [1]);
      ws.close();
      await pub.close();
    } finally {
      await small.stop();
    }
  });
});
