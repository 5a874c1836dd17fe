import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import type { EngineState } from '../src/cluster/cluster-engine.js';
import { escapeGlob, RedisChannels } from '../src/cluster/redis-channels.js';
import { MAX_ENVELOPE_BYTES, MAX_UNPARSED_BYTES, RedisEngine } from '../src/cluster/redis-engine.js';
import { engineContract } from './cluster-engine-contract.js';
import { freePort, sleep } from './helpers.js';
import { type RedisServer, startRedisServer } from './redis-server.js';

engineContract(
  'redis',
  () => startRedisServer(),
  (options) => new RedisEngine(options),
);

describe('Redis channels', () => {
  const channels = new RedisChannels('pulse');

  test('a channel is P:p:channel, bytes unchanged; the first ":" ends the prefix, so prefixes never share a channel', () => {
    assert.equal(channels.channel('sensors/1/temp'), 'pulse:p:sensors/1/temp');
    assert.equal(channels.channel('a:b/ü *?'), 'pulse:p:a:b/ü *?');
    assert.equal(new RedisChannels('a.b').channel('c'), 'a.b:p:c');
    assert.notEqual(new RedisChannels('a').channel('p:c'), new RedisChannels('a:p').channel('c'));
    const odd = new RedisChannels('a:p');
    assert.equal(odd.root, `~${Buffer.from('a:p').toString('base64url')}:p:`);
    assert.equal(odd.root.indexOf(':'), odd.root.length - 3, 'no ":" inside the escaped prefix');
    assert.equal(new RedisChannels('x*').root.includes('*'), false, 'no glob character in any prefix');
  });

  test('escapeGlob puts a backslash before * ? [ ] \\ and nothing else', () => {
    assert.equal(escapeGlob('a*b?c[d]e\\f^g-h/ü'), 'a\\*b\\?c\\[d\\]e\\\\f^g-h/ü');
  });

  test('filters: exact is SUBSCRIBE; + is *; a last # is the parent and parent/*; # alone is P:p:*; literals escaped', () => {
    assert.deepEqual(channels.filter('a/b'), [{ kind: 'channel', name: 'pulse:p:a/b' }]);
    assert.deepEqual(channels.filter('s/+/t'), [{ kind: 'pattern', name: 'pulse:p:s/*/t' }]);
    assert.deepEqual(channels.filter('h/#'), [
      { kind: 'channel', name: 'pulse:p:h' },
      { kind: 'pattern', name: 'pulse:p:h/*' },
    ]);
    assert.deepEqual(channels.filter('#'), [{ kind: 'pattern', name: 'pulse:p:*' }]);
    assert.deepEqual(channels.filter('+/#'), [
      { kind: 'pattern', name: 'pulse:p:*' },
      { kind: 'pattern', name: 'pulse:p:*/*' },
    ]);
    assert.deepEqual(channels.filter('a*?/+/[x]\\/#'), [
      { kind: 'pattern', name: 'pulse:p:a\\*\\?/*/\\[x\\]\\\\' },
      { kind: 'pattern', name: 'pulse:p:a\\*\\?/*/\\[x\\]\\\\/*' },
    ]);
    // Not wildcards: + or # inside a level, # before the last level. Exact channels are never globs.
    for (const literal of ['a+/b#', '#/a', 'a*b', 'a?', '[x]', '\\']) {
      assert.deepEqual(channels.filter(literal), [{ kind: 'channel', name: `pulse:p:${literal}` }]);
    }
  });
});

/** A started engine and what its listener saw. */
async function probeEngine(server: RedisServer, prefix: string, name: string, urls = [server.url]) {
  const messages: string[] = [];
  const states: EngineState[] = [];
  const reasons: (string | undefined)[] = [];
  const engine = new RedisEngine({ urls, prefix, nodeName: name });
  await engine.start(
    {
      message: (e) => messages.push(Buffer.from(e).toString('utf8')),
      state: (s, reason) => {
        states.push(s);
        reasons.push(reason);
      },
    },
    true,
  );
  return { engine, messages, states, reasons };
}

async function until(done: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** A plain ioredis client of the test's own, to look at the server or to act as a foreign publisher. */
async function rawClient(server: RedisServer): Promise<Redis> {
  const redis = new Redis(server.url, { lazyConnect: true, retryStrategy: () => null });
  await redis.connect();
  return redis;
}

describe('Redis engine, Redis-specific', () => {
  let server: RedisServer;
  let raw: Redis;
  before(async () => {
    server = await startRedisServer();
    raw = await rawClient(server);
  });
  after(async () => {
    raw.disconnect();
    await server.dispose();
  });

  test('glob characters in channel names are literals: each interest gets exactly its own channels', async () => {
    const a = await probeEngine(server, 'glob', 'a');
    const b = await probeEngine(server, 'glob', 'b');
    for (const filter of ['a*b', 'a?', '[x]', '\\', 'a?/+', '[x]/#', 'q*/#']) a.engine.addInterest(filter);
    await a.engine.settled();
    const wanted = ['a*b', 'a?', '[x]', '\\', 'a?/1', '[x]', '[x]/y', 'q*', 'q*/z/z'];
    const near = ['aXb', 'ab', 'a', 'x', '[', '\\\\', 'ab/1', 'aa/1', 'x/y', '[x]y', 'qq/z', 'q', 'qz'];
    for (const c of near) assert.equal(b.engine.publish(c, Buffer.from(`miss ${c}`)), true);
    for (const c of new Set(wanted)) assert.equal(b.engine.publish(c, Buffer.from(`on ${c}`)), true);
    await until(() => a.messages.includes('on q*/z/z'), 'the last one');
    assert.deepEqual(
      a.messages,
      [...new Set(wanted)].map((c) => `on ${c}`),
      'each wanted channel once, no near miss',
    );
    await Promise.all([a.engine.close(), b.engine.close()]);
  });

  test('wildcards: sensors/+/temp gets sensors/1/temp (and, glob * being wider, sensors/1/2/temp); sensors/# gets sensors itself', async () => {
    const a = await probeEngine(server, 'wild', 'a');
    const hash = await probeEngine(server, 'wild', 'hash');
    const b = await probeEngine(server, 'wild', 'b');
    a.engine.addInterest('sensors/+/temp');
    hash.engine.addInterest('sensors/#');
    await Promise.all([a.engine.settled(), hash.engine.settled()]);
    for (const c of ['sensors/1/temp', 'sensors/1/hum', 'sensors', 'sensorsX', 'sensors/1/2/temp']) {
      b.engine.publish(c, Buffer.from(c));
    }
    await until(() => hash.messages.length === 4 && a.messages.length === 2, 'both');
    assert.deepEqual(a.messages, ['sensors/1/temp', 'sensors/1/2/temp']);
    assert.deepEqual(hash.messages, ['sensors/1/temp', 'sensors/1/hum', 'sensors', 'sensors/1/2/temp']);
    await Promise.all([a, hash, b].map((n) => n.engine.close()));
  });

  test('settled(): once it resolves, Redis holds every interest added before it', async () => {
    const a = await probeEngine(server, 'settle', 'a');
    const filters = Array.from({ length: 300 }, (_, i) => `room/${i}`);
    for (const f of filters) a.engine.addInterest(f);
    a.engine.addInterest('room/+/x');
    await a.engine.settled();
    const counts = (await raw.pubsub('NUMSUB', 'settle:p:room/0', 'settle:p:room/299')) as unknown[];
    assert.deepEqual(counts.map(String), ['settle:p:room/0', '1', 'settle:p:room/299', '1']);
    assert.ok(Number(await raw.pubsub('NUMPAT')) >= 1);
    a.engine.removeInterest('room/0');
    await a.engine.settled();
    assert.deepEqual(((await raw.pubsub('NUMSUB', 'settle:p:room/0')) as unknown[]).map(String), [
      'settle:p:room/0',
      '0',
    ]);
    await a.engine.close();
  });

  test('redis-server restarted mid-stream: disconnected, publish refused, then connected again, every interest back, delivery resumes in order', async () => {
    const own = await startRedisServer();
    let stream: NodeJS.Timeout | undefined;
    try {
      const a = await probeEngine(own, 'restart', 'a');
      const b = await probeEngine(own, 'restart', 'b');
      a.engine.addInterest('s/exact');
      a.engine.addInterest('s/+/w');
      a.engine.addInterest('s/h/#');
      await a.engine.settled();
      let sent = 0;
      let refused = 0;
      stream = setInterval(() => {
        if (b.engine.publish('s/exact', Buffer.from(`n${sent}`))) sent++;
        else refused++;
      }, 5);
      await until(() => a.messages.length >= 20, 'the stream flows');
      await own.stop();
      await until(() => a.engine.state === 'disconnected' && b.engine.state === 'disconnected', 'both down');
      const refusedWhileDown = refused;
      await sleep(100);
      assert.ok(refused > refusedWhileDown, 'publish returns false while disconnected');
      await own.restart();
      await until(
        () => a.engine.state === 'connected' && b.engine.state === 'connected',
        'both back',
        10_000,
      );
      // Sent the moment both say connected: the interest must be in Redis already.
      b.engine.publish('s/1/w', Buffer.from('plus'));
      b.engine.publish('s/h/deep', Buffer.from('hash'));
      b.engine.publish('s/h', Buffer.from('parent'));
      const before = a.messages.length;
      await until(() => a.messages.length > before + 20, 'delivery resumes');
      clearInterval(stream);
      for (const m of ['plus', 'hash', 'parent']) assert.ok(a.messages.includes(m), m);
      assert.deepEqual(a.states, ['connected', 'disconnected', 'connected'], a.reasons.join(' | '));
      assert.match(a.reasons[1] ?? '', /^redis at redis:\/\/127\.0\.0\.1:\d+ lost: /);
      // In order, each at most once; what was sent while a's subscriber was away is lost for a.
      const numbers = a.messages.filter((m) => m.startsWith('n')).map((m) => Number(m.slice(1)));
      for (let i = 1; i < numbers.length; i++) assert.ok((numbers[i] ?? 0) > (numbers[i - 1] ?? 0));
      await Promise.all([a.engine.close(), b.engine.close()]);
    } finally {
      clearInterval(stream);
      await own.dispose();
    }
  });

  test('connections killed (CLIENT KILL): when the engine reports connected again, Redis already holds every interest', async () => {
    const own = await startRedisServer();
    const look = await rawClient(own);
    try {
      const held: Promise<string[]>[] = [];
      const states: EngineState[] = [];
      const a = new RedisEngine({ urls: [own.url], prefix: 'kill', nodeName: 'killed' });
      await a.start(
        {
          message: () => {},
          state: (state) => {
            states.push(state);
            // Asked on another connection before anything else happens: what Redis holds now.
            if (state === 'connected' && states.length > 1) {
              held.push(
                Promise.all([
                  look.pubsub('NUMSUB', 'kill:p:k/exact', 'kill:p:k/h'),
                  look.pubsub('NUMPAT'),
                ]).then(([numsub, numpat]) => [...(numsub as unknown[]).map(String), String(numpat)]),
              );
            }
          },
        },
        true,
      );
      a.addInterest('k/exact');
      a.addInterest('k/+/w');
      a.addInterest('k/h/#');
      for (let i = 0; i < 2500; i++) a.addInterest(`k/many/${i}`);
      await a.settled();
      const ids = String(await look.client('LIST'))
        .split('\n')
        .filter((line) => line.includes('name=pulse:killed '))
        .map((line) => /id=(\d+)/.exec(line)?.[1] ?? '');
      assert.equal(ids.length, 2, 'the publisher and the subscriber');
      for (const id of ids) await look.client('KILL', 'ID', id);
      await until(() => held.length === 1, 'connected again');
      assert.deepEqual(await held[0], ['kill:p:k/exact', '1', 'kill:p:k/h', '1', '2']);
      const numsub = (await look.pubsub('NUMSUB', 'kill:p:k/many/0', 'kill:p:k/many/2499')) as unknown[];
      assert.deepEqual(numsub.map(String), ['kill:p:k/many/0', '1', 'kill:p:k/many/2499', '1']);
      assert.deepEqual(states, ['connected', 'disconnected', 'connected']);
      await a.close();
    } finally {
      look.disconnect();
      await own.dispose();
    }
  });

  test('start, required, with nothing listening: one line naming the URL without its password, engine closed', async () => {
    const port = await freePort();
    const engine = new RedisEngine({
      urls: [`redis://pulse:secret@127.0.0.1:${port}`],
      prefix: 'x',
      nodeName: 'x',
    });
    await assert.rejects(engine.start({ message: () => {}, state: () => {} }, true), (err: Error) => {
      assert.match(
        err.message,
        new RegExp(`^redis at redis://127.0.0.1:${port} unreachable: connect ECONNREFUSED`),
      );
      assert.doesNotMatch(err.message, /\n|secret/);
      return true;
    });
    assert.equal(engine.state, 'closed');
  });

  test('several URLs: the first that answers is used; when it goes, the engine moves to the next', async () => {
    const second = await startRedisServer();
    try {
      const down = `redis://127.0.0.1:${await freePort()}`;
      const one = await probeEngine(server, 'urls', 'one', [down, server.url]);
      assert.equal(one.engine.state, 'connected');
      await one.engine.close();
      const first = await startRedisServer();
      const a = await probeEngine(first, 'urls', 'a', [first.url, second.url]);
      const onSecond = await probeEngine(second, 'urls', 'watcher');
      a.engine.addInterest('moved');
      await first.dispose();
      await until(
        () => a.engine.state === 'connected' && a.states.includes('disconnected'),
        'a on the second',
        10_000,
      );
      await a.engine.settled();
      onSecond.engine.publish('moved', Buffer.from('found'));
      await until(() => a.messages.includes('found'), 'a hears the second server');
      await Promise.all([a.engine.close(), onSecond.engine.close()]);
    } finally {
      await second.dispose();
    }
  });

  test('the connections are named pulse:<node>, spaces and other non-printables replaced', async () => {
    const a = await probeEngine(server, 'name', 'node a\té');
    const list = await raw.client('LIST');
    const names = String(list)
      .split('\n')
      .map((line) => /name=(\S*)/.exec(line)?.[1]);
    assert.equal(names.filter((n) => n === 'pulse:node_a__').length, 2, String(list));
    await a.engine.close();
  });

  test('a listener that throws costs nothing: later messages still arrive, the connection stays', async () => {
    const got: string[] = [];
    const a = new RedisEngine({ urls: [server.url], prefix: 'throw', nodeName: 'a' });
    await a.start(
      {
        message: (e) => {
          got.push(Buffer.from(e).toString('utf8'));
          throw new Error('a bug in the layer');
        },
        state: () => {
          throw new Error('another');
        },
      },
      true,
    );
    const b = await probeEngine(server, 'throw', 'b');
    a.addInterest('t');
    a.addInterest('+');
    await a.settled();
    for (const text of ['1', '2', '3']) b.engine.publish('t', Buffer.from(text));
    await until(() => got.length === 6, 'all three, twice (t and +)');
    assert.deepEqual(got, ['1', '1', '2', '2', '3', '3']);
    assert.equal(a.state, 'connected');
    await Promise.all([a.close(), b.engine.close()]);
  });

  test(`an envelope over ${MAX_ENVELOPE_BYTES} bytes is refused, not sent; the connection stays`, async () => {
    const a = await probeEngine(server, 'cap', 'a');
    const b = await probeEngine(server, 'cap', 'b');
    a.engine.addInterest('c');
    await a.engine.settled();
    assert.equal(b.engine.publish('c', new Uint8Array(MAX_ENVELOPE_BYTES + 1)), false);
    assert.equal(b.engine.publish('c', Buffer.from('small')), true);
    await until(() => a.messages.length === 1, 'the small one');
    assert.deepEqual(a.messages, ['small']);
    assert.equal(b.engine.state, 'connected');
    await Promise.all([a.engine.close(), b.engine.close()]);
  });

  test(`a reply over ${MAX_UNPARSED_BYTES} bytes from the server (a foreign publisher) costs the subscriber its connection, not unbounded memory; it reconnects`, async () => {
    const a = await probeEngine(server, 'flood', 'a');
    a.engine.addInterest('f');
    await a.engine.settled();
    await raw.publish('flood:p:f', Buffer.alloc(MAX_UNPARSED_BYTES + 1024 * 1024, 1));
    await until(() => a.states.includes('disconnected'), 'the connection dropped');
    assert.match(a.reasons[a.states.indexOf('disconnected')] ?? '', /bytes without a whole reply/);
    await until(() => a.engine.state === 'connected', 'back', 10_000);
    await raw.publish('flood:p:f', 'after');
    await until(() => a.messages.includes('after'), 'delivery again');
    assert.deepEqual(a.messages, ['after']);
    await a.engine.close();
  });

  test('a server that stops answering (SIGSTOP) is found by the PING health check; the engine comes back after SIGCONT', async () => {
    const own = await startRedisServer();
    try {
      const states: EngineState[] = [];
      const engine = new RedisEngine(
        { urls: [own.url], prefix: 'stop', nodeName: 'a' },
        { healthCheckMs: 200 },
      );
      await engine.start({ message: () => {}, state: (s) => states.push(s) }, true);
      own.process()?.kill('SIGSTOP');
      await until(() => engine.state === 'disconnected', 'the stall noticed', 3000);
      own.process()?.kill('SIGCONT');
      await until(() => engine.state === 'connected', 'back', 10_000);
      assert.deepEqual(states, ['connected', 'disconnected', 'connected']);
      await engine.close();
    } finally {
      await own.dispose();
    }
  });

  test('an interest Redis refuses (ACL) keeps the engine from claiming connected', async () => {
    const own = await startRedisServer();
    try {
      const admin = await rawClient(own);
      await admin.call('ACL', 'SETUSER', 'node', 'on', '>pw', 'resetchannels', '&acl:p:ok*', '+@all');
      admin.disconnect();
      const url = `redis://node:pw@127.0.0.1:${own.port}`;
      const fine = new RedisEngine({ urls: [url], prefix: 'acl', nodeName: 'fine' });
      fine.addInterest('ok');
      await fine.start({ message: () => {}, state: () => {} }, true);
      assert.equal(fine.state, 'connected');
      fine.addInterest('forbidden');
      await until(() => fine.state === 'disconnected', 'a refused SUBSCRIBE costs the connection');
      await fine.close();
      const strict = new RedisEngine({ urls: [url], prefix: 'acl', nodeName: 'strict' });
      strict.addInterest('forbidden');
      await assert.rejects(
        strict.start({ message: () => {}, state: () => {} }, true),
        /unreachable: .*NOPERM/,
      );
    } finally {
      await own.dispose();
    }
  });

  test('close while a not-required start is retrying: no event after closed, no late connection, and the process can exit', async () => {
    const spare = await startRedisServer();
    await spare.stop();
    try {
      const states: EngineState[] = [];
      const engine = new RedisEngine({ urls: [spare.url], prefix: 'stop', nodeName: 'late' });
      await engine.start({ message: () => {}, state: (s) => states.push(s) }, false);
      assert.equal(engine.state, 'disconnected');
      await sleep(700);
      await engine.close();
      await spare.restart();
      await sleep(1500);
      assert.deepEqual(states, ['disconnected', 'closed']);
      const look = await rawClient(spare);
      const clients = String(await look.client('LIST'));
      look.disconnect();
      assert.doesNotMatch(clients, /name=pulse:late/);
      // The same in a process of its own: it ends by itself once close() resolves (no timer left).
      const engineUrl = new URL('../src/cluster/redis-engine.js', import.meta.url).href;
      const script = `
        const { RedisEngine } = await import(${JSON.stringify(engineUrl)});
        const states = [];
        const e = new RedisEngine({ urls: ['redis://127.0.0.1:${await freePort()}'], prefix: 'p', nodeName: 'n' });
        await e.start({ message() {}, state(s) { states.push(s); } }, false);
        await new Promise((r) => setTimeout(r, 1200));
        await e.close();
        process.on('exit', () => console.log(JSON.stringify(states)));`;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), 6000);
      const [code, signal] = await once(child, 'exit');
      clearTimeout(timer);
      assert.equal(signal, null, 'exited by itself, not killed');
      assert.equal(code, 0);
      assert.deepEqual(JSON.parse(out), ['disconnected', 'closed']);
    } finally {
      await spare.dispose();
    }
  });
});
