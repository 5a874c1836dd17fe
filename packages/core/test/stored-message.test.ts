import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ownedPublication, Publication, publicationOf, storedMessageOf } from '../src/index.js';

test('ownedPublication copies a payload that is a view of a larger buffer, keeping every field', () => {
  const chunk = Buffer.alloc(65_536, 1);
  const view = chunk.subarray(100, 110);
  const p = new Publication({
    channel: 'a/b',
    payload: view,
    event: 'e',
    qos: 1,
    retain: true,
    expiresAt: 5,
  });
  p.offset = 7;
  p.epoch = 'ep';
  const owned = ownedPublication(p);
  assert.notEqual(owned, p);
  assert.equal(owned.payload.buffer.byteLength, 10, 'no longer pins the 64 KiB chunk');
  assert.deepEqual(Buffer.from(owned.payload), Buffer.from(view));
  for (const key of ['channel', 'event', 'qos', 'retain', 'expiresAt', 'offset', 'epoch'] as const) {
    assert.equal(owned[key], p[key], key);
  }
});

test('ownedPublication returns a publication whose payload owns its memory as it is', () => {
  const p = new Publication({ channel: 'a', payload: new Uint8Array([1, 2, 3]) });
  assert.equal(ownedPublication(p), p);
});

test('storedMessageOf is made once per publication and publicationOf round-trips it', () => {
  const p = new Publication({
    channel: 'c',
    payload: Buffer.from('x'),
    qos: 2,
    properties: { contentType: 't' },
  });
  const m = storedMessageOf(p);
  assert.equal(storedMessageOf(p), m);
  const back = publicationOf(m);
  assert.equal(back.channel, 'c');
  assert.equal(back.qos, 2);
  assert.deepEqual(back.properties, { contentType: 't' });
});
