import type { AclRuleConfig } from '../config/auth.js';
import { covers } from './topic-cover.js';

export type Action = 'publish' | 'subscribe';

/** Why `filter` is not an MQTT-style filter (a whole-level `+`, `#` last), or undefined. */
export function filterProblem(filter: string): string | undefined {
  if (filter.length === 0) return 'empty';
  const levels = filter.split('/');
  for (const [i, level] of levels.entries()) {
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1))
      return '"#" must be the last level';
    if (level.includes('+') && level !== '+') return '"+" must be a whole level';
  }
  return undefined;
}

/** What one identity may do on which channels. */
export interface Rights {
  /** `filter` is a channel (publish) or a filter without its `$share/group/` (subscribe). */
  allows(action: Action, filter: string): boolean;
  /** True when nothing is restricted (no checks needed). */
  readonly unrestricted: boolean;
}

/** Auth disabled, or a token without a `channels` claim. */
export const UNRESTRICTED: Rights = { allows: () => true, unrestricted: true };

/** Nothing at all (auth enabled and no rule for this user: default deny). */
export const NOTHING: Rights = { allows: () => false, unrestricted: false };

/** Answers remembered per connection, so that a busy channel is matched once. */
const MEMO_LIMIT = 256;
/** Characters of channel names a memo may hold (channels may be 64 KiB long); cleared past it. */
const MEMO_CHARS = 16_384;
/** Longer channels are matched every time rather than remembered. */
const MEMO_LONGEST = 1024;

class PatternRights implements Rights {
  readonly unrestricted = false;
  private publishMemo: Map<string, boolean> | undefined;
  private subscribeMemo: Map<string, boolean> | undefined;
  private publishChars = 0;
  private subscribeChars = 0;

  constructor(
    private readonly publish: readonly string[],
    private readonly subscribe: readonly string[],
  ) {}

  allows(action: Action, filter: string): boolean {
    const publish = action === 'publish';
    let memo = publish ? this.publishMemo : this.subscribeMemo;
    const known = memo?.get(filter);
    if (known !== undefined) return known;
    const patterns = publish ? this.publish : this.subscribe;
    let allowed = false;
    for (const pattern of patterns) {
      allowed = covers(pattern, filter);
      if (allowed) break;
    }
    if (filter.length > MEMO_LONGEST) return allowed;
    if (memo === undefined) {
      memo = new Map();
      if (publish) this.publishMemo = memo;
      else this.subscribeMemo = memo;
    }
    let chars = (publish ? this.publishChars : this.subscribeChars) + filter.length;
    if (memo.size >= MEMO_LIMIT || chars > MEMO_CHARS) {
      memo.clear();
      chars = filter.length;
    }
    if (publish) this.publishChars = chars;
    else this.subscribeChars = chars;
    memo.set(filter, allowed);
    return allowed;
  }
}

/** A `channels` allowlist (JWT claim or connect hook): the same filters for publish and subscribe. */
export function allowlist(channels: readonly string[]): Rights {
  return new PatternRights(channels, channels);
}

/** `%u`/`%c` are not replaced by values that would widen or shift a filter. */
const UNSAFE_SUBSTITUTE = /[+#/]/;

/** `%u` and `%c` replaced in one pass (a username holding "%c" stays as it is); undefined when unsafe. */
function substitute(pattern: string, username: string | undefined, clientId: string): string | undefined {
  if (!pattern.includes('%')) return pattern;
  let unsafe = false;
  const filter = pattern.replace(/%[uc]/g, (m) => {
    const value = m === '%u' ? username : clientId;
    if (value === undefined || value === '' || UNSAFE_SUBSTITUTE.test(value)) unsafe = true;
    return value ?? '';
  });
  return unsafe ? undefined : filter;
}

/**
 * The `[[auth.acl]]` rules of one user (its own and `*`), with `%u` = the username and
 * `%c` = the client id (MQTT) or connection id (native, JSON). A rule whose substitute is
 * empty or holds `+`, `#` or `/` is skipped.
 */
export function aclRights(
  rules: readonly AclRuleConfig[],
  username: string | undefined,
  clientId: string,
): Rights {
  const publish: string[] = [];
  const subscribe: string[] = [];
  for (const rule of rules) {
    if (rule.username !== '*' && rule.username !== username) continue;
    const filter = substitute(rule.topic_filter, username, clientId);
    if (filter === undefined) continue;
    if (filterProblem(filter) !== undefined) continue;
    if (rule.action !== 'subscribe') publish.push(filter);
    if (rule.action !== 'publish') subscribe.push(filter);
  }
  if (publish.length === 0 && subscribe.length === 0) return NOTHING;
  return new PatternRights(publish, subscribe);
}
