import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { subscriptionMatches } from '../src/topic-match.js';

describe('subscriptionMatches', () => {
  it('matches a plain filter as filterMatches does', () => {
    assert.ok(subscriptionMatches('a/+/c', 'a/b/c'));
    assert.ok(subscriptionMatches('a/#', 'a'));
    assert.ok(!subscriptionMatches('#', '$SYS/x'));
  });

  it('matches $share/{group}/{filter} by its filter', () => {
    assert.ok(subscriptionMatches('$share/g/orders/#', 'orders/1/x'));
    assert.ok(subscriptionMatches('$share/g/orders', 'orders'));
    assert.ok(!subscriptionMatches('$share/g/orders/#', 'other'));
    assert.ok(!subscriptionMatches('$share/g', 'g'), 'a group without a filter matches nothing');
  });
});
