import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkPublishChannel,
  checkSubscribeFilter,
  isSystemChannel,
  isWildcardFilter,
  MAX_CHANNEL_LENGTH,
} from '../src/channel.js';
import { Refusal } from '../src/refusal.js';

const INVALID_CHANNEL = 1002;
const FORBIDDEN = 1004;

function codeOf(refusal: Refusal | undefined): number | undefined {
  if (refusal === undefined) return undefined;
  assert.ok(refusal instanceof Refusal);
  assert.equal(typeof refusal.message, 'string');
  assert.ok(refusal.message.length > 0);
  return refusal.code;
}

describe('isSystemChannel', () => {
  it('is true only for names starting with $', () => {
    assert.equal(isSystemChannel('$SYS/clients'), true);
    assert.equal(isSystemChannel('$'), true);
    assert.equal(isSystemChannel('$foo'), true);
    assert.equal(isSystemChannel('a/$SYS'), false);
    assert.equal(isSystemChannel('chat'), false);
    assert.equal(isSystemChannel(''), false);
  });
});

describe('isWildcardFilter', () => {
  it('recognises + and # only as whole levels', () => {
    for (const f of ['+', '#', 'a/+', 'a/#', '+/b', 'a/+/c', '+/+', 'a/+/#', '$SYS/#']) {
      assert.equal(isWildcardFilter(f), true, f);
    }
    for (const f of ['a', 'a/b', 'a+', 'a#', 'a/b+', '+a/b', 'a/#b', 'c++', 'x/y#z', '']) {
      assert.equal(isWildcardFilter(f), false, f);
    }
  });
});

describe('checkPublishChannel', () => {
  it('accepts concrete printable-ASCII channels of 1-256 bytes', () => {
    for (const c of ['a', 'chat/room 1', 'a//b', '/leading', 'trailing/', 'a+b', 'c#', '~!@%^&*()', 'x$']) {
      assert.equal(checkPublishChannel(c), undefined, c);
    }
    assert.equal(checkPublishChannel('x'.repeat(MAX_CHANNEL_LENGTH)), undefined);
    assert.equal(MAX_CHANNEL_LENGTH, 256);
  });

  it('refuses empty and over-long channels with 1002', () => {
    assert.equal(codeOf(checkPublishChannel('')), INVALID_CHANNEL);
    assert.equal(codeOf(checkPublishChannel('x'.repeat(MAX_CHANNEL_LENGTH + 1))), INVALID_CHANNEL);
  });

  it('refuses non-printable and non-ASCII characters with 1002', () => {
    for (const c of ['a\nb', 'tab\there', '\u0000', 'del\u007f', 'caf\u00e9', 'emoji\u{1f600}', '\u001f']) {
      assert.equal(codeOf(checkPublishChannel(c)), INVALID_CHANNEL, JSON.stringify(c));
    }
  });

  it('refuses publishing to a wildcard with 1002', () => {
    for (const c of ['+', '#', 'a/+', 'a/#', '+/b', 'a/+/c']) {
      assert.equal(codeOf(checkPublishChannel(c)), INVALID_CHANNEL, c);
    }
  });

  it('refuses $ channels with 1004, including $SYS', () => {
    for (const c of ['$', '$SYS', '$SYS/clients', '$foo/bar', '$SYS/#']) {
      assert.equal(codeOf(checkPublishChannel(c)), FORBIDDEN, c);
    }
  });

  it('reports the shape problem before the reserved-name problem', () => {
    assert.equal(codeOf(checkPublishChannel('$\n')), INVALID_CHANNEL);
    assert.equal(codeOf(checkPublishChannel('$' + 'x'.repeat(MAX_CHANNEL_LENGTH))), INVALID_CHANNEL);
  });
});

describe('checkSubscribeFilter', () => {
  it('accepts concrete channels and whole-level wildcards', () => {
    for (const f of [
      'a',
      'a/b',
      '+',
      '#',
      'a/+',
      'a/#',
      '+/b',
      'a/+/c',
      '+/+/#',
      'a+',
      'a#',
      'a/b#',
      'a//+',
    ]) {
      assert.equal(checkSubscribeFilter(f), undefined, f);
    }
    assert.equal(checkSubscribeFilter('x'.repeat(MAX_CHANNEL_LENGTH)), undefined);
  });

  it('accepts $SYS and $SYS/... filters', () => {
    for (const f of ['$SYS', '$SYS/clients', '$SYS/#', '$SYS/+/count']) {
      assert.equal(checkSubscribeFilter(f), undefined, f);
    }
  });

  it('refuses other $ filters with 1002', () => {
    for (const f of ['$', '$foo', '$SYSTEM', '$SYSx/a', '$sys/a', '$/a']) {
      assert.equal(codeOf(checkSubscribeFilter(f)), INVALID_CHANNEL, f);
    }
  });

  it('refuses # anywhere but the last level with 1002', () => {
    for (const f of ['#/a', 'a/#/b', '#/#', 'a/#/#', '+/#/+']) {
      assert.equal(codeOf(checkSubscribeFilter(f)), INVALID_CHANNEL, f);
    }
  });

  it('refuses bad shapes with 1002', () => {
    assert.equal(codeOf(checkSubscribeFilter('')), INVALID_CHANNEL);
    assert.equal(codeOf(checkSubscribeFilter('x'.repeat(MAX_CHANNEL_LENGTH + 1))), INVALID_CHANNEL);
    assert.equal(codeOf(checkSubscribeFilter('a/\u00e9')), INVALID_CHANNEL);
    assert.equal(codeOf(checkSubscribeFilter('a\r\n')), INVALID_CHANNEL);
  });
});
