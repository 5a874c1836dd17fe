import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode } from '@pulse/protocol';
import { checkChannelLength } from '../src/channel-length.js';

describe('checkChannelLength', () => {
  it('allows exactly max bytes and refuses max + 1, naming the limit', () => {
    assert.equal(checkChannelLength('x'.repeat(1024), 1024), undefined);
    const refusal = checkChannelLength('x'.repeat(1025), 1024);
    assert.equal(refusal?.code, ErrorCode.InvalidChannel);
    assert.equal(refusal?.message, 'name longer than 1024 bytes (limits.max_channel_length)');
    assert.equal(checkChannelLength('a', 1), undefined);
    assert.ok(checkChannelLength('ab', 1));
  });

  it('counts UTF-8 bytes, not characters: 2, 3 and 4-byte characters', () => {
    for (const [char, bytes] of [
      ['é', 2],
      ['€', 3],
      ['😀', 4],
    ] as const) {
      const fits = char.repeat(Math.floor(90 / bytes));
      assert.equal(Buffer.byteLength(fits), Math.floor(90 / bytes) * bytes);
      assert.equal(checkChannelLength(fits, Buffer.byteLength(fits)), undefined, char);
      assert.ok(checkChannelLength(fits, Buffer.byteLength(fits) - 1), char);
    }
    // Short in characters, past the limit in bytes: the cheap test must not let it through.
    assert.ok(checkChannelLength('€'.repeat(30), 89));
  });

  it('counts a $share name whole, prefix and group included', () => {
    assert.equal(checkChannelLength('$share/g/abc', 12), undefined);
    assert.ok(checkChannelLength('$share/gg/abc', 12));
  });
});
