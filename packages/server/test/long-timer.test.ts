import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LongTimer, MAX_TIMEOUT_MS } from '../src/util/long-timer.js';
import { sleep } from './helpers.js';

test('a LongTimer past setTimeout’s limit does not fire early (setTimeout alone would fire at once)', async () => {
  let fired = 0;
  const timer = new LongTimer(() => fired++, MAX_TIMEOUT_MS + 60_000);
  await sleep(50);
  timer.clear();
  assert.equal(fired, 0);
});

test('a LongTimer fires once at its delay, and not after clear()', async () => {
  let fired = 0;
  new LongTimer(() => fired++, 20);
  const cleared = new LongTimer(() => fired++, 20);
  cleared.clear();
  await sleep(80);
  assert.equal(fired, 1);
});
