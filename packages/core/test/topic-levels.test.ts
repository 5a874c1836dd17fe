import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode } from '@pulse/protocol';
import { checkTopicLevels } from '../src/topic-levels.js';

describe('checkTopicLevels', () => {
  it('allows exactly max levels and refuses max + 1, empty levels included', () => {
    assert.equal(checkTopicLevels('/'.repeat(127), 128), undefined, '128 empty levels');
    const refusal = checkTopicLevels('/'.repeat(128), 128);
    assert.equal(refusal?.code, ErrorCode.InvalidChannel);
    assert.equal(refusal?.message, 'more than 128 topic levels');
    assert.equal(checkTopicLevels('a/b/c', 3), undefined);
    assert.ok(checkTopicLevels('a/b/c/d', 3));
    assert.equal(checkTopicLevels('abcdefgh', 3), undefined, 'a long name of one level');
  });

  it('counts the filter of a $share name, not its prefix', () => {
    assert.equal(checkTopicLevels('$share/group/a/b/c', 3), undefined);
    assert.ok(checkTopicLevels('$share/group/a/b/c/d', 3));
  });
});
