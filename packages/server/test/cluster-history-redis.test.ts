import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { RedisHistory } from '../src/cluster/redis-history.js';
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
});
