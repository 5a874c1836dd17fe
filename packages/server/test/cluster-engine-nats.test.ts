import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { EngineState } from '../src/cluster/cluster-engine.js';
import { NatsEngine } from '../src/cluster/nats-engine.js';
import { NatsSubjects, SUBJECT_BOUND } from '../src/cluster/nats-subjects.js';
import { engineContract } from './cluster-engine-contract.js';
import { freePort, sleep } from './helpers.js';
import { type NatsServer, startNatsServer } from './nats-server.js';

engineContract('nats', startNatsServer, (options) => new NatsEngine(options));

const TRICKY = [
  'a.b/c',
  'a/b.c',
  'a/b/c',
  'a.b.c',
  '~x',
  'x',
  '~',
  '',
  '/',
  '//',
  'a//b',
  'a/',
  '/a',
  'ünï/cødé',
  'unı/code',
  '*',
  '>',
  'a/*',
  'a/>',
  '+',
  '#',
  'a/#',
  'x y',
  'x\ty',
  'x\ny',
  '$SYS/x',
  'chat:lobby',
  '~~long',
  '_long',
  'a-b_c:d',
  '🙂',
];

describe('NATS subjects', () => {
  const subjects = new NatsSubjects('pulse');
  const token = /^[A-Za-z0-9_:~-]+$/;

  test('distinct channels get distinct subjects, each of plain tokens with no wildcard', () => {
    const seen = new Map<string, string>();
    for (const channel of TRICKY) {
      const subject = subjects.channel(channel);
      assert.equal(seen.get(subject), undefined, `${JSON.stringify(channel)} and ${seen.get(subject)}`);
      seen.set(subject, JSON.stringify(channel));
      for (const t of subject.split('.')) assert.match(t, token, `token of ${JSON.stringify(channel)}`);
      assert.notEqual(subject, subjects.overflow);
    }
    assert.equal(subjects.channel('chat:lobby'), 'pulse.chat:lobby');
    assert.equal(subjects.channel('a/b/c'), 'pulse.a.b.c');
    assert.equal(subjects.channel('a//b'), 'pulse.a.~.b');
    assert.equal(subjects.channel('a.b/c'), `pulse.~${Buffer.from('a.b').toString('base64url')}.c`);
  });

  test('a prefix is one token: prefixes a and a.b never share a subject', () => {
    assert.notEqual(new NatsSubjects('a.b').channel('c'), new NatsSubjects('a').channel('b/c'));
    assert.equal(new NatsSubjects('a.b').channel('c').split('.').length, 2);
  });

  test('filters: + is *, a last # is the parent and parent.>, # alone is prefix.>; wildcards also take the overflow subject', () => {
    assert.deepEqual(subjects.filter('a/b'), ['pulse.a.b']);
    assert.deepEqual(subjects.filter('s/+/t'), ['pulse.s.*.t', subjects.overflow]);
    assert.deepEqual(subjects.filter('h/#'), ['pulse.h', 'pulse.h.>', subjects.overflow]);
    assert.deepEqual(subjects.filter('#'), ['pulse.>']);
    assert.deepEqual(subjects.filter('+'), ['pulse.*']);
    // Not wildcards: + or # inside a level, and # before the last level.
    assert.deepEqual(subjects.filter('a+/b#'), [subjects.channel('a+/b#')]);
    assert.deepEqual(subjects.filter('#/a'), [subjects.channel('#/a')]);
    for (const channel of TRICKY.filter((c) => !c.split('/').some((l) => l === '+' || l === '#'))) {
      assert.deepEqual(subjects.filter(channel), [subjects.channel(channel)], JSON.stringify(channel));
    }
  });

  test('a channel too long for a subject of its own goes to the overflow subject, and so does its interest', () => {
    const long = `${'x'.repeat(SUBJECT_BOUND)}`;
    const escapedLong = 'é'.repeat(Math.floor(SUBJECT_BOUND * 0.6));
    assert.ok(escapedLong.length + 'pulse.'.length < SUBJECT_BOUND, 'short in characters, long once escaped');
    for (const channel of [long, escapedLong, `a/${'b/'.repeat(SUBJECT_BOUND)}`, 'z'.repeat(1_000_000)]) {
      assert.ok(subjects.channel(channel) === subjects.overflow, `${channel.slice(0, 20)}… overflows`);
      assert.deepEqual(subjects.filter(channel), [subjects.overflow]);
    }
    assert.deepEqual(subjects.filter(`${long}/+`), [subjects.overflow]);
    const fits = 'y'.repeat(SUBJECT_BOUND - 'pulse.'.length);
    assert.equal(subjects.channel(fits), `pulse.${fits}`);
    assert.deepEqual(subjects.filter(fits), [`pulse.${fits}`]);
  });
});

/** A started engine and what its listener saw. */
async function probeEngine(server: NatsServer, prefix: string, name: string) {
  const messages: string[] = [];
  const states: EngineState[] = [];
  const engine = new NatsEngine({ urls: [server.url], prefix, nodeName: name });
  await engine.start(
    { message: (e) => messages.push(Buffer.from(e).toString('utf8')), state: (s) => states.push(s) },
    true,
  );
  return { engine, messages, states };
}

async function until(done: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('NATS engine, NATS-specific', () => {
  let server: NatsServer;
  before(async () => {
    server = await startNatsServer({ config: 'max_payload: 4096', monitor: true });
  });
  after(async () => {
    await server.dispose();
  });

  test('long channels cross through the overflow subject; a wildcard node gets them, an exact one only its own', async () => {
    const a = await probeEngine(server, 'long', 'a');
    const b = await probeEngine(server, 'long', 'b');
    const wild = await probeEngine(server, 'long', 'wild');
    const one = `room/${'n'.repeat(SUBJECT_BOUND)}`;
    const other = `room/${'m'.repeat(SUBJECT_BOUND)}`;
    a.engine.addInterest(one);
    wild.engine.addInterest('room/+');
    await sleep(100);
    assert.equal(b.engine.publish(one, Buffer.from('one')), true);
    assert.equal(b.engine.publish(other, Buffer.from('other')), true);
    await until(() => wild.messages.length >= 2, 'the wildcard node gets both');
    await until(() => a.messages.includes('one'), 'the exact node gets its own');
    // Same overflow subject: the exact node gets the other one too, for its router to drop.
    assert.deepEqual(a.messages, ['one', 'other']);
    await Promise.all([a, b, wild].map((n) => n.engine.close()));
  });

  test("max_payload from the server's INFO: a larger envelope is refused, not thrown; one that fits crosses", async () => {
    const a = await probeEngine(server, 'payload', 'a');
    const b = await probeEngine(server, 'payload', 'b');
    a.engine.addInterest('p');
    await sleep(100);
    assert.equal(b.engine.publish('p', new Uint8Array(4097)), false);
    assert.equal(b.engine.publish('p', Buffer.from('x'.repeat(4096))), true);
    await until(() => a.messages.length === 1, 'the one that fits');
    assert.equal(a.messages[0]?.length, 4096);
    assert.equal(b.engine.state, 'connected', 'a refused envelope does not cost the connection');
    await Promise.all([a, b].map((n) => n.engine.close()));
  });

  test('no echo, and the connection is named pulse:<node> (the server lists it)', async () => {
    const a = await probeEngine(server, 'echo', 'alpha');
    const b = await probeEngine(server, 'echo', 'beta');
    a.engine.addInterest('e');
    b.engine.addInterest('e');
    await sleep(100);
    assert.equal(a.engine.publish('e', Buffer.from('from a')), true);
    await until(() => b.messages.includes('from a'), 'b gets it');
    await sleep(100);
    assert.deepEqual(a.messages, [], 'a does not get its own');
    const connz = (await (await fetch(`${server.monitorUrl}/connz`)).json()) as {
      connections: { name?: string }[];
    };
    const names = connz.connections.map((c) => c.name);
    assert.ok(names.includes('pulse:alpha') && names.includes('pulse:beta'), names.join(','));
    await Promise.all([a, b].map((n) => n.engine.close()));
  });

  test('start, required, with nothing listening: one readable line naming the URL, engine closed', async () => {
    const url = `nats://127.0.0.1:${await freePort()}`;
    const engine = new NatsEngine({ urls: [url], prefix: 'x', nodeName: 'x' });
    await assert.rejects(engine.start({ message: () => {}, state: () => {} }, true), (err: Error) => {
      assert.match(err.message, new RegExp(`^nats at ${url} unreachable: \\S`));
      assert.doesNotMatch(err.message, /\n/);
      return true;
    });
    assert.equal(engine.state, 'closed');
  });

  test('several URLs are the server list: the first down, the second up, the engine connects', async () => {
    const down = `nats://127.0.0.1:${await freePort()}`;
    const engine = new NatsEngine({ urls: [down, server.url], prefix: 'list', nodeName: 'list' });
    await engine.start({ message: () => {}, state: () => {} }, true);
    assert.equal(engine.state, 'connected');
    await engine.close();
  });

  test('a listener that throws costs nothing: later messages still arrive, the connection stays', async () => {
    const got: string[] = [];
    const a = new NatsEngine({ urls: [server.url], prefix: 'throw', nodeName: 'a' });
    await a.start(
      {
        message: (e) => {
          got.push(Buffer.from(e).toString('utf8'));
          throw new Error('a bug in the layer');
        },
        state: () => {},
      },
      true,
    );
    const b = await probeEngine(server, 'throw', 'b');
    a.addInterest('t');
    await sleep(100);
    for (const text of ['1', '2', '3']) b.engine.publish('t', Buffer.from(text));
    await until(() => got.length === 3, 'all three');
    assert.deepEqual(got, ['1', '2', '3']);
    assert.equal(a.state, 'connected');
    await Promise.all([a.close(), b.engine.close()]);
  });

  test('close while a not-required start is still retrying: it stops, and says nothing after closed', async () => {
    const spare = await startNatsServer({ monitor: true });
    await spare.stop();
    try {
      const states: EngineState[] = [];
      const engine = new NatsEngine({ urls: [spare.url], prefix: 'stop', nodeName: 'stop' });
      await engine.start({ message: () => {}, state: (s) => states.push(s) }, false);
      assert.equal(engine.state, 'disconnected');
      await engine.close();
      await spare.restart();
      await sleep(2500);
      assert.equal(engine.state, 'closed');
      assert.deepEqual(states, ['disconnected', 'closed']);
      const connz = (await (await fetch(`${spare.monitorUrl}/connz`)).json()) as { num_connections: number };
      assert.equal(connz.num_connections, 0, 'no late connection from the closed engine');
    } finally {
      await spare.dispose();
    }
  });
});
