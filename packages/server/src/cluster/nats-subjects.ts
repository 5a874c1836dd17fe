/**
 * Pulse channels and filters as NATS subjects (the NATS engine's naming, nats-engine.ts).
 *
 * A channel `l1/l2/…` under cluster prefix `p` becomes `P.t1.t2.…`, one token per level, where
 * `P` is the prefix as one token (escaped like a level when it is not plain: prefixes `a` and
 * `a.b` must not overlap):
 * - a plain level (`[A-Za-z0-9_:-]+`) stays as it is;
 * - any other level (empty, or with `.`, `*`, `>`, `~`, `+`, `#`, `$`, whitespace, non-ASCII, …) becomes
 *   `~` + the unpadded base64url of its UTF-8 (the empty level is `~` alone).
 * A plain token never starts with `~` and an escaped one always does, and base64url is one-to-one,
 * so distinct channels get distinct subjects; no level ever comes out as `*` or `>`.
 *
 * A filter maps level by level the same way, except that a level that is exactly `+` becomes `*`
 * and a last level that is exactly `#` stands for its parent and everything under it: the parent's
 * subject and `parent.>` (`#` alone is `P.>`). `+` or `#` inside a longer level, or `#`
 * before the last level, is a literal (escaped) level.
 *
 * NATS refuses a control line (`PUB subject size`, `MSG subject sid size`) over 4 KiB by default,
 * so a channel whose subject would be longer than SUBJECT_BOUND is published on one overflow
 * subject, `P.~~long` (no level maps to it: base64url has no `~`, so no escaped token has two). A filter listens
 * there too whenever it could match such a channel: when it has a wildcard or is itself too long.
 * Those nodes get every long channel's publications; their router drops what they did not ask for.
 */

/** Subject length (ASCII bytes) past which a channel goes to the overflow subject: 4 KiB lines leave room. */
export const SUBJECT_BOUND = 2048;

const PLAIN_LEVEL = /^[A-Za-z0-9_:-]+$/;
const ESCAPE = '~';

function levelToken(level: string): string {
  return PLAIN_LEVEL.test(level) ? level : ESCAPE + Buffer.from(level, 'utf8').toString('base64url');
}

/** The subjects of one cluster prefix. */
export class NatsSubjects {
  /** The prefix as one token, then the dot. */
  private readonly root: string;
  /** Where the publications of channels too long for a subject of their own go. */
  readonly overflow: string;
  /** The one-level wildcards under the prefix: they cover the overflow subject already. */
  private readonly coversOverflow: ReadonlySet<string>;

  constructor(prefix: string) {
    this.root = `${levelToken(prefix)}.`;
    this.overflow = `${this.root}${ESCAPE}${ESCAPE}long`;
    this.coversOverflow = new Set([`${this.root}*`, `${this.root}>`]);
  }

  /** Every level maps to at least as many characters as it has: a long name is known long unencoded. */
  private surelyLong(text: string): boolean {
    return this.root.length + text.length > SUBJECT_BOUND;
  }

  /** The subject a publication on `channel` goes to. */
  channel(channel: string): string {
    if (this.surelyLong(channel)) return this.overflow;
    const subject = this.root + channel.split('/').map(levelToken).join('.');
    return subject.length > SUBJECT_BOUND ? this.overflow : subject;
  }

  /** The subjects to subscribe to for `filter` (a channel, or a filter with `+` / `#`), without repeats. */
  filter(filter: string): string[] {
    if (this.surelyLong(filter)) return [this.overflow];
    const levels = filter.split('/');
    const rest = levels.at(-1) === '#';
    if (rest) levels.pop();
    const tokens = levels.map((level) => (level === '+' ? '*' : levelToken(level)));
    const parent = this.root + tokens.join('.');
    const subjects = rest ? [`${parent}${tokens.length > 0 ? '.' : ''}>`] : [parent];
    if (rest && tokens.length > 0) subjects.unshift(parent);
    const fitting = subjects.filter((s) => s.length <= SUBJECT_BOUND);
    const mayMatchLong = rest || levels.includes('+') || fitting.length < subjects.length;
    if (mayMatchLong && !fitting.some((s) => this.coversOverflow.has(s))) fitting.push(this.overflow);
    return fitting;
  }
}
