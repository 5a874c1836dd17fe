/**
 * Pulse channels and filters as Redis pub/sub channels and PSUBSCRIBE globs (the Redis engine's
 * naming, redis-engine.ts).
 *
 * A channel `c` under cluster prefix `p` is the Redis channel `P:p:c`, the channel's UTF-8 bytes
 * unchanged (Redis channel names are binary-safe). `P` is the prefix itself when it is plain
 * (`[A-Za-z0-9_.-]+`, what the config allows), else `~` + the unpadded base64url of its UTF-8.
 * Neither form holds a `:`, so the first `:` ends `P`: two prefixes never share a channel, and a
 * glob of one prefix (which starts with its literal `P:p:`) never matches another prefix's
 * channel. `p` says "publications", leaving other kinds of channel room under the prefix.
 *
 * A filter without wildcards is its one channel (SUBSCRIBE). A filter with wildcards becomes
 * PSUBSCRIBE globs, its literal levels escaped (`*`, `?`, `[`, `]`, `\` get a `\`):
 * - a level that is exactly `+` is `*`;
 * - a last level that is exactly `#` is its parent (a channel, or a glob when the parent has a
 *   `+`) and `parent/*`; `#` alone is `P:p:*`.
 * `+` or `#` inside a longer level, or `#` before the last level, is a literal (MQTT's rule).
 * A glob `*` also matches `/`, so `s/+/t` brings `s/a/b/t` too: wider than the filter, which the
 * contract allows (the node's router drops what it did not ask for).
 */

/** One thing to (P)SUBSCRIBE to on the Redis subscriber connection. */
export interface RedisInterest {
  readonly kind: 'channel' | 'pattern';
  /** The Redis channel name or glob. */
  readonly name: string;
}

const PLAIN_PREFIX = /^[A-Za-z0-9_.-]+$/;
const GLOB_SPECIAL = /[*?[\]\\]/g;

/** `text` as a glob that matches exactly `text`. */
export function escapeGlob(text: string): string {
  return text.replace(GLOB_SPECIAL, '\\$&');
}

/** The Redis names of one cluster prefix. */
export class RedisChannels {
  /** `P:p:`, what every channel of the prefix starts with. */
  readonly root: string;

  constructor(prefix: string) {
    const token = PLAIN_PREFIX.test(prefix)
      ? prefix
      : `~${Buffer.from(prefix, 'utf8').toString('base64url')}`;
    this.root = `${token}:p:`;
  }

  /** The Redis channel a publication on `channel` goes to. */
  channel(channel: string): string {
    return this.root + channel;
  }

  /** What to subscribe to for `filter` (a channel, or a filter with `+` / `#`), without repeats. */
  filter(filter: string): RedisInterest[] {
    const levels = filter.split('/');
    const rest = levels.at(-1) === '#';
    if (rest) levels.pop();
    const plus = levels.includes('+');
    if (!rest && !plus) return [{ kind: 'channel', name: this.channel(filter) }];
    const glob = escapeGlob(this.root) + levels.map((l) => (l === '+' ? '*' : escapeGlob(l))).join('/');
    if (!rest) return [{ kind: 'pattern', name: glob }];
    if (levels.length === 0) return [{ kind: 'pattern', name: `${glob}*` }];
    const parent: RedisInterest = plus
      ? { kind: 'pattern', name: glob }
      : { kind: 'channel', name: this.channel(levels.join('/')) };
    return [parent, { kind: 'pattern', name: `${glob}/*` }];
  }
}
