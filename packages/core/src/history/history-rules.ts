import { filterMatches } from '@pulse/protocol';
import { isSystemChannel, isWildcardFilter, LEVEL_SEPARATOR, MAX_CHANNEL_LENGTH } from '../channel.js';

/** Which channels keep history, how much and how long (one `[[history]]` table). */
export interface HistoryRule {
  /** An MQTT filter (`+`, `#` levels), a prefix ending with `*` (`chat:*`), or an exact channel. */
  pattern: string;
  /** Publications kept per channel (the newest ones). */
  size: number;
  /** How long a publication stays in history, in ms; 0 = until pushed out by `size`. */
  ttlMs: number;
  /** Bytes (heldBytes) kept per channel: past them the oldest entries go; undefined = no limit. */
  maxBytes?: number;
}

/** Rule lookups cached per channel before the cache is dropped and rebuilt. */
const CACHE_LIMIT = 10_000;

/**
 * Why `pattern` cannot be a history pattern, or undefined when it can. A trailing `*` makes
 * the rest a literal prefix (which may not hold `+`/`#` levels); otherwise the pattern is an
 * MQTT filter (`+` a whole level, `#` the whole last level) or an exact channel name.
 * Patterns starting with `$` are refused: system channels never keep history.
 */
export function historyPatternProblem(pattern: string): string | undefined {
  if (pattern.length === 0 || pattern.length > MAX_CHANNEL_LENGTH) {
    return `must be 1-${MAX_CHANNEL_LENGTH} characters`;
  }
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return 'must be printable ASCII';
  }
  if (isSystemChannel(pattern)) return 'must not start with "$" (system channels keep no history)';
  const levels = pattern.split(LEVEL_SEPARATOR);
  if (pattern.endsWith('*')) {
    if (isWildcardFilter(pattern.slice(0, -1))) {
      return 'cannot mix "+" or "#" levels with a trailing "*"';
    }
    return undefined;
  }
  const hash = levels.indexOf('#');
  if (hash !== -1 && hash !== levels.length - 1) return 'may use "#" only as its last level';
  return undefined;
}

type Matcher = (channel: string) => boolean;

function matcherOf(pattern: string): Matcher {
  if (pattern.endsWith('*')) {
    const prefix = pattern.slice(0, -1);
    return (channel) => channel.startsWith(prefix);
  }
  if (isWildcardFilter(pattern)) return (channel) => filterMatches(pattern, channel);
  return (channel) => channel === pattern;
}

/**
 * The history rules in config order; the first rule whose pattern matches a channel wins.
 * System (`$...`) channels and wildcard filters never match. Lookups are cached per channel.
 */
export class HistoryRules {
  private readonly matchers: { rule: HistoryRule; matches: Matcher }[];
  private readonly cache = new Map<string, HistoryRule | null>();

  constructor(readonly rules: readonly HistoryRule[]) {
    this.matchers = rules.map((rule) => {
      const problem = historyPatternProblem(rule.pattern);
      if (problem) throw new Error(`history pattern ${JSON.stringify(rule.pattern)} ${problem}`);
      return { rule, matches: matcherOf(rule.pattern) };
    });
  }

  get size(): number {
    return this.matchers.length;
  }

  /** The rule of a concrete channel, or undefined when it keeps no history. */
  ruleFor(channel: string): HistoryRule | undefined {
    const cached = this.cache.get(channel);
    if (cached !== undefined) return cached ?? undefined;
    let found: HistoryRule | null = null;
    if (channel.length > 0 && !isSystemChannel(channel) && !isWildcardFilter(channel)) {
      for (const m of this.matchers) {
        if (m.matches(channel)) {
          found = m.rule;
          break;
        }
      }
    }
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(channel, found);
    return found ?? undefined;
  }
}
