import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import { describe, test } from 'node:test';
import { hashPassword, parsePasswordHash, verifyPassword } from '../src/auth/passwords.js';
import { aclRights, allowlist } from '../src/auth/rights.js';
import { SessionGate } from '../src/auth/session-gate.js';
import { covers } from '../src/auth/topic-cover.js';

describe('auth units: filter coverage', () => {
  const cases: [string, string, boolean][] = [
    ['chat/#', 'chat/+/x', true],
    ['chat/#', 'chat/a', true],
    ['chat/#', 'chat', true],
    ['chat/#', 'chat/#', true],
    ['chat/+', 'chat/a', true],
    ['chat/+', 'chat/#', false],
    ['chat/+', 'chat/a/b', false],
    ['chat/+', 'chat', false],
    ['chat/+', 'chat/+', true],
    ['chat/a', 'chat/+', false],
    ['+/x', 'a/x', true],
    ['+/x', '+/x', true],
    ['+/x', 'a/+', false],
    ['#', 'anything/at/all', true],
    ['#', '$SYS/broker/uptime', false],
    ['+/broker/uptime', '$SYS/broker/uptime', false],
    ['$SYS/#', '$SYS/broker/uptime', true],
    ['a', 'a', true],
    ['a', 'a/b', false],
    ['a/b', 'a', false],
    ['chat:lobby', 'chat:lobby', true],
    ['chat:lobby', 'chat:other', false],
  ];
  for (const [pattern, filter, expected] of cases) {
    test(`${pattern} ${expected ? 'covers' : 'does not cover'} ${filter}`, () => {
      assert.equal(covers(pattern, filter), expected);
    });
  }
});

describe('auth units: allowlists and ACLs', () => {
  test('an allowlist is the same for publish and subscribe', () => {
    const rights = allowlist(['chat/#', 'news']);
    assert.ok(rights.allows('publish', 'chat/a'));
    assert.ok(rights.allows('subscribe', 'chat/+/x'));
    assert.ok(rights.allows('subscribe', 'news'));
    assert.ok(!rights.allows('subscribe', '#'));
    assert.ok(!rights.allows('publish', 'other'));
  });

  test('ACL: own rules and "*", actions, %u and %c, unsafe substitutes skipped, default deny', () => {
    const rules = [
      { username: 'alice', action: 'publish' as const, topic_filter: 'devices/%u/#' },
      { username: '*', action: 'subscribe' as const, topic_filter: 'public/#' },
      { username: '*', action: 'all' as const, topic_filter: 'clients/%c/#' },
      { username: 'bob', action: 'all' as const, topic_filter: 'bob/#' },
    ];
    const alice = aclRights(rules, 'alice', 'c1');
    assert.ok(alice.allows('publish', 'devices/alice/temp'));
    assert.ok(!alice.allows('subscribe', 'devices/alice/temp'));
    assert.ok(!alice.allows('publish', 'devices/bob/temp'));
    assert.ok(alice.allows('subscribe', 'public/x'));
    assert.ok(!alice.allows('publish', 'public/x'));
    assert.ok(alice.allows('publish', 'clients/c1/x') && alice.allows('subscribe', 'clients/c1/#'));
    assert.ok(!alice.allows('subscribe', 'clients/c2/x'));
    assert.ok(!alice.allows('publish', 'bob/x'));
    // A client id with a wildcard would widen clients/%c/#: that rule does not apply.
    const sneaky = aclRights(rules, 'alice', '+');
    assert.ok(!sneaky.allows('subscribe', 'clients/+/x'));
    assert.ok(!sneaky.allows('publish', 'clients/other/x'));
    assert.ok(!aclRights(rules, 'a/b', 'c').allows('publish', 'devices/a/b/x'));
    // Nobody matches: nothing is allowed.
    assert.ok(!aclRights([], 'carol', 'c').allows('subscribe', 'public/x'));
  });
});

describe('auth units: password hashes', () => {
  test('hash, parse and verify; a wrong password does not match', async () => {
    const text = await hashPassword('s3cret');
    assert.match(text, /^scrypt\$32768\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    const parsed = parsePasswordHash(text);
    assert.ok(typeof parsed !== 'string');
    assert.equal(await verifyPassword('s3cret', parsed), true);
    assert.equal(await verifyPassword('s3cret ', parsed), false);
    assert.notEqual(await hashPassword('s3cret'), text, 'a new salt every time');
  });

  test('malformed hashes are refused with a reason', () => {
    for (const bad of [
      'scrypt$',
      'scrypt$1000$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==',
      'scrypt$16384$8$1$!!$aGFzaA==',
      'scrypt$16384$0$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==',
      'scrypt$1073741824$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==',
      'bcrypt$16384$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==',
    ]) {
      assert.equal(typeof parsePasswordHash(bad), 'string', bad);
    }
  });
});

describe('auth units: the session gate keeps order', () => {
  test('requests arriving during a wait are handled after it, in order, even when one waits again', async () => {
    const handled: string[] = [];
    let gate!: SessionGate<string>;
    const resolvers: ((v: boolean) => void)[] = [];
    const owner = {
      stopped: false,
      failed: (err: unknown) => handled.push(`failed ${err}`),
      process: (item: string) => arrive(item),
      connection: { contain: (_where: string, fn: () => void) => fn() },
    };
    const arrive = (item: string) => {
      if (gate.held !== undefined) {
        gate.hold(item);
        return;
      }
      if (item.startsWith('slow')) {
        gate.wait(new Promise<boolean>((r) => resolvers.push(r)), (ok) => handled.push(`${item}:${ok}`));
        return;
      }
      handled.push(item);
    };
    gate = new SessionGate<string>(owner, true);
    for (const item of ['a', 'slow1', 'b', 'slow2', 'c']) arrive(item);
    assert.deepEqual(handled, ['a']);
    at(resolvers, 0)(true);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(handled, ['a', 'slow1:true', 'b']);
    arrive('d');
    at(resolvers, 1)(false);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(handled, ['a', 'slow1:true', 'b', 'slow2:false', 'c', 'd']);
    assert.equal(gate.held, undefined);
  });
});
