import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { COMMAND_TIMEOUT_MS, RedisHistory } from '../src/cluster/redis-history.js';
import { historyContract } from './cluster-history-contract.js';
import { sleep } from './helpers.js';
import { type RedisServer, startRedisServer } from './redis-server.js';

historyContract(
  'redis',
  () => startRedisServer(),
  (options) => new RedisHistory(options),
);

describe('Redis history: hostile replies', () => {
  let server: RedisServer;
  let history: RedisHistory;
  let raw: Redis;
  const rule = { pattern: '#', size: 10, ttlMs: 0 };

  before(async () => {
    server = await startRedisServer();
    history = new RedisHistory({ urls: [server.url], prefix: 'hostile', nodeName: 'n' });
    await history.start();
    raw = new Redis(server.url);
  });
  after(async () => {
    raw?.disconnect();
    await history?.close();
    await server?.dispose();
  });

  test('keys are P:m:channel and P:h:channel with entries <offset>-0 {d, x}', async () => {
    await history.append('k/1', rule, Buffer.from('x'), undefined, undefined);
    assert.deepEqual((await raw.keys('hostile:*')).sort(), ['hostile:h:k/1', 'hostile:m:k/1']);
    assert.deepEqual(await raw.xrange('hostile:h:k/1', '-', '+'), [['1-0', ['d', 'x', 'x', '']]]);
    const ttl = await raw.pttl('hostile:m:k/1');
    assert.ok(ttl > 0, 'the meta expires');
  });

  test('an entry without payload, a bad epoch or an entry past the offset is refused with a reason, never trusted', async () => {
    await raw.xadd('hostile:h:bad/1', '1-0', 'nope', 'x');
    await raw.hset('hostile:m:bad/1', 'e', 'epoch1', 'o', '1');
    await assert.rejects(history.read('bad/1', rule, { after: 0, limit: 10 }), /malformed entry/);
    await raw.hset('hostile:m:bad/2', 'e', 'bad epoch with spaces', 'o', '1');
    await assert.rejects(history.read('bad/2', rule, { limit: 0 }), /malformed read reply/);
    await raw.xadd('hostile:h:bad/3', '5-0', 'd', 'x', 'x', '');
    await raw.hset('hostile:m:bad/3', 'e', 'epoch3', 'o', '2');
    await assert.rejects(history.read('bad/3', rule, { after: 0, limit: 10 }), /malformed entry/);
    await raw.hset('hostile:m:bad/4', 'e', 'epoch4', 'o', '-3');
    await assert.rejects(history.read('bad/4', rule, { limit: 0 }), /malformed read reply/);
    assert.equal(history.ready, true, 'still usable');
  });

  test('a reply larger than MAX_UNPARSED_BYTES costs the connection, which comes back', async () => {
    const big = Buffer.alloc(20 * 1024 * 1024, 1);
    await raw.hset('hostile:m:huge', 'e', 'epoch5', 'o', '4');
    for (let i = 1; i <= 4; i++) await raw.xadd('hostile:h:huge', `${i}-0`, 'd', big, 'x', '');
    await assert.rejects(history.read('huge', rule, { after: 0, limit: 10 }));
    for (let i = 0; i < 100 && !history.ready; i++) await sleep(50);
    assert.equal(history.ready, true, 'reconnected');
    const ok = await history.read('k/1', rule, { limit: 1 });
    assert.equal(ok.offset, 1);
  });

  test('keys another writer made unusable start a new epoch, the append goes through (not refused until they expire)', async () => {
    const first = await history.append('odd/1', rule, Buffer.from('a'), undefined, undefined);
    // An entry ID past the meta offset: XADD <offset>-0 would fail after HINCRBY.
    await raw.xadd('hostile:h:odd/1', '1000-0', 'd', 'forged', 'x', '');
    const second = await history.append('odd/1', rule, Buffer.from('b'), undefined, undefined);
    assert.notEqual(second.epoch, first.epoch);
    assert.equal(second.offset, 1);
    await raw.hset('hostile:m:odd/2', 'e', 'epoch', 'o', 'abc');
    await raw.set('hostile:h:odd/3', 'not a stream');
    await raw.set('hostile:m:odd/4', 'not a hash');
    await raw.hset('hostile:m:odd/5', 'e', 'spaces in epoch', 'o', '1');
    for (const channel of ['odd/2', 'odd/3', 'odd/4', 'odd/5']) {
      const position = await history.append(channel, rule, Buffer.from('c'), undefined, undefined);
      assert.equal(position.offset, 1, channel);
      const read = await history.read(channel, rule, { after: 0, limit: 10 });
      assert.deepEqual(
        read.entries.map((e) => e.offset),
        [1],
        channel,
      );
    }
  });

  test('a server that stops answering on an open connection (SIGSTOP): commands fail within COMMAND_TIMEOUT_MS, not never', async () => {
    const child = server.process();
    assert.ok(child);
    child.kill('SIGSTOP');
    try {
      const t0 = Date.now();
      await assert.rejects(history.append('stopped', rule, Buffer.from('x'), undefined, undefined));
      await assert.rejects(history.read('stopped', rule, { limit: 0 }));
      const took = Date.now() - t0;
      assert.ok(took < 2 * COMMAND_TIMEOUT_MS + 2000, `failed after ${took} ms`);
    } finally {
      child.kill('SIGCONT');
    }
    for (let i = 0; i < 100; i++) {
      if (
        await history.read('k/1', rule, { limit: 0 }).then(
          () => true,
          () => false,
        )
      )
        break;
      await sleep(100);
    }
    assert.equal((await history.read('k/1', rule, { limit: 1 })).offset, 1, 'usable again');
  });
});
