import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Publication } from '@pulse/core';
import { msgpack } from '@pulse/protocol';
import { checkApiMessage } from '../src/cluster/api-messages.js';
import { decodeEnvelope, encodeEnvelope } from '../src/cluster/envelope.js';
import { checkShareGroupMessage } from '../src/cluster/share-group-messages.js';
import { MAX_HELD_REPLIES, ReplyOrder } from '../src/json/reply-order.js';

const publication = () => new Publication({ channel: 'jobs/1', payload: Buffer.from('x') });

/** An envelope as another node (or a hostile writer) would send it, with `g` as given. */
function withGroups(g: unknown): Buffer {
  const fields = msgpack.unpack(encodeEnvelope('node-a', 1, publication())) as Record<string, unknown>;
  return msgpack.pack({ ...fields, g });
}

describe('shared group assignment in the envelope', () => {
  test('carried across unchanged', () => {
    const groups = { 'node-b': ['$share/w/jobs/+', '$share/v/jobs/#'], 'node-a': ['$share/u/jobs/1'] };
    const envelope = decodeEnvelope(encodeEnvelope('node-a', 1, publication(), groups), 1 << 20);
    assert.ok(typeof envelope === 'object' && envelope.kind === 'publication');
    assert.deepEqual(envelope.groups, groups);
    const none = decodeEnvelope(encodeEnvelope('node-a', 2, publication()), 1 << 20);
    assert.ok(typeof none === 'object' && none.kind === 'publication');
    assert.equal(none.groups, undefined);
  });

  test('a malformed assignment is refused, never trusted', () => {
    const bad: [unknown, RegExp][] = [
      [['$share/w/x'], /bad group assignment/],
      [{ n: '$share/w/x' }, /bad group assignment/],
      [{ n: ['not-a-group'] }, /bad group assignment/],
      [{ n: [7] }, /bad group assignment/],
      [{ n: [`$share/w/${'x'.repeat(70_000)}`] }, /bad group assignment/],
      [
        {
          n: Array.from({ length: 600 }, (_, i) => `$share/g${i}/x`),
          m: Array.from({ length: 600 }, (_, i) => `$share/h${i}/x`),
        },
        /too long/,
      ],
    ];
    for (const [g, problem] of bad) assert.match(String(decodeEnvelope(withGroups(g), 1 << 24)), problem);
  });

  test('control messages are checked field by field', () => {
    assert.equal(typeof checkShareGroupMessage({ y: 'ga', i: ['$share/g/t'] }), 'object');
    assert.equal(typeof checkShareGroupMessage({ y: 'gs', n: 1, f: true, i: [] }), 'object');
    assert.match(String(checkShareGroupMessage({ y: 'ga', i: 'x' })), /bad group list/);
    assert.match(String(checkShareGroupMessage({ y: 'gs', n: 1.5, f: true, i: [] })), /bad group list part/);
    assert.match(String(checkShareGroupMessage({ y: 'gs', n: 1, f: 1, i: [] })), /bad group list part/);
  });
});

describe('cluster API control messages', () => {
  test('listing and disconnect messages are checked field by field', () => {
    assert.equal(typeof checkApiMessage({ y: 'cq', r: 1, p: '' }), 'object');
    assert.equal(typeof checkApiMessage({ y: 'cr', r: 1, f: true, c: [['a', 2]], w: [] }), 'object');
    assert.equal(typeof checkApiMessage({ y: 'dq', r: 1, m: { c: 'client' } }), 'object');
    assert.equal(typeof checkApiMessage({ y: 'dr', r: 1, n: 0 }), 'object');
    assert.match(String(checkApiMessage({ y: 'cq', r: -1, p: '' })), /bad request number/);
    assert.match(String(checkApiMessage({ y: 'cr', r: 1, f: true, c: [['a', -2]], w: [] })), /listing part/);
    assert.match(String(checkApiMessage({ y: 'cr', r: 1, f: true, c: [['a']], w: [] })), /listing part/);
    const tooMany = Array.from({ length: 1001 }, (_, i): [string, number] => [`c${i}`, 1]);
    assert.match(String(checkApiMessage({ y: 'cr', r: 1, f: true, c: tooMany, w: [] })), /listing part/);
    assert.match(String(checkApiMessage({ y: 'dq', r: 1, m: { c: 'a', u: 'b' } })), /disconnect request/);
    assert.match(String(checkApiMessage({ y: 'dq', r: 1, m: {} })), /disconnect request/);
    assert.match(String(checkApiMessage({ y: 'dr', r: 1, n: 'many' })), /disconnect answer/);
  });
});

describe('JSON replies in request order (ReplyOrder)', () => {
  test('replies after one that waits are held until it is sent; nothing is held otherwise', () => {
    const sent: string[] = [];
    const order = new ReplyOrder((text) => sent.push(text));
    order.reply('1');
    const second = order.later();
    order.reply('3');
    const fourth = order.later();
    order.reply('5');
    assert.deepEqual(sent, ['1']);
    fourth('4');
    assert.deepEqual(sent, ['1'], 'the fourth waits for the second');
    second('2');
    assert.deepEqual(sent, ['1', '2', '3', '4', '5']);
    order.reply('6');
    assert.deepEqual(sent.at(-1), '6');
  });

  test(`at most ${MAX_HELD_REPLIES} replies held`, () => {
    const order = new ReplyOrder(() => {});
    order.later();
    for (let i = 0; i < MAX_HELD_REPLIES - 1; i++) assert.equal(order.reply('x'), true);
    assert.equal(order.reply('x'), false);
  });
});
