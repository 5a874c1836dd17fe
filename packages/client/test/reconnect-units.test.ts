import assert from 'node:assert/strict';
import { test } from 'node:test';
import { reconnectDelay } from '../src/backoff.js';
import { refreshDelay, tokenExpiresAt } from '../src/token-expiry.js';

test('backoff: min + full jitter over an exponentially growing range, capped at max', () => {
  assert.equal(
    reconnectDelay(0, 500, 20_000, true, () => 0),
    500,
  );
  assert.equal(
    reconnectDelay(0, 500, 20_000, true, () => 0.999999),
    999,
  );
  assert.equal(
    reconnectDelay(3, 500, 20_000, true, () => 0.5),
    500 + 2000,
  );
  assert.equal(
    reconnectDelay(10, 500, 20_000, true, () => 0.999999),
    20_000,
  );
  assert.equal(
    reconnectDelay(100, 500, 20_000, true, () => 0),
    500,
    'no overflow at large steps',
  );
  assert.equal(reconnectDelay(2, 500, 20_000, false), 2500, 'without jitter: the top of the range');
  const spread = new Set(Array.from({ length: 200 }, () => reconnectDelay(4, 100, 10_000)));
  assert.ok(spread.size > 100, `jittered delays differ (${spread.size} distinct of 200)`);
});

const jwt = (payload: object) => `e30.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.c2ln`;

test('tokenExpiresAt reads exp (seconds) from a JWT payload without verifying it', () => {
  assert.equal(tokenExpiresAt(jwt({ sub: 'a', exp: 1700000000 })), 1700000000_000);
  assert.equal(tokenExpiresAt(jwt({ sub: 'ü/?>', exp: 5 })), 5000, 'base64url with - and _');
  assert.equal(tokenExpiresAt(jwt({ sub: 'a' })), undefined);
  assert.equal(tokenExpiresAt(jwt({ exp: '12' })), undefined);
  assert.equal(tokenExpiresAt('not a jwt'), undefined);
  assert.equal(tokenExpiresAt('a.%%%.c'), undefined);
  assert.equal(tokenExpiresAt(`a.${'A'.repeat(20_000)}.c`), undefined, 'a huge payload is not decoded');
});

test('refreshDelay: margin before exp, half the time left for short tokens, never below the floor', () => {
  assert.equal(refreshDelay(100_000, 10_000, 0), 90_000);
  assert.equal(refreshDelay(15_000, 10_000, 0), 7_500);
  assert.equal(refreshDelay(-5, 10_000, 0), 100);
});
