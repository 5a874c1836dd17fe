import { type HistoryRule, historyPatternProblem } from '@pulse/core';
import { ConfigError, showValue } from './errors.js';
import { int, type KeySpec, MAX_TIMER_MS, str } from './kinds.js';
import { closest, didYouMean } from './suggest.js';

/**
 * One `[[history]]` table: the channels `pattern` matches keep their newest `size`
 * publications for `ttl_ms` (0 = until pushed out). TOML only: an array of tables has no
 * environment variable or flag form.
 */
export interface HistoryConfig {
  pattern: string;
  size: number;
  ttl_ms: number;
}

/** The top-level TOML key of the history tables. */
export const HISTORY_KEY = 'history';

export const HISTORY_SPECS = {
  pattern: str('', 'channel pattern: an MQTT filter (+, #), a prefix ending with *, or a channel name', {
    nonEmpty: true,
  }),
  size: int(100, { min: 1, max: 1_000_000 }, 'publications kept per channel (the newest ones)'),
  ttl_ms: int(0, { min: 0, max: MAX_TIMER_MS }, 'how long a publication stays in history (0 = no expiry)'),
} as const satisfies Record<keyof HistoryConfig, KeySpec<unknown>>;

const NAMES = Object.keys(HISTORY_SPECS) as (keyof HistoryConfig)[];

function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

/**
 * The `[[history]]` tables of a parsed TOML document, checked; undefined when it has none.
 * Throws a one-line ConfigError naming `history[N].key` and the file.
 */
export function tomlHistory(doc: Record<string, unknown>, label: string): HistoryConfig[] | undefined {
  if (!Object.hasOwn(doc, HISTORY_KEY)) return undefined;
  const value = doc[HISTORY_KEY];
  const from = `(from ${label})`;
  if (!Array.isArray(value)) {
    throw new ConfigError(
      `history must be an array of tables (write [[history]], not [history]), got ${showValue(value)} ${from}`,
    );
  }
  return value.map((table, i): HistoryConfig => {
    const at = `history[${i}]`;
    if (!isTable(table)) throw new ConfigError(`${at} must be a table, got ${showValue(table)} ${from}`);
    for (const key of Object.keys(table)) {
      if (!Object.hasOwn(HISTORY_SPECS, key)) {
        const suggestion = closest(key, NAMES);
        throw new ConfigError(
          `unknown key ${JSON.stringify(`${at}.${key}`)} in ${label}${didYouMean(suggestion && JSON.stringify(`${at}.${suggestion}`))}`,
        );
      }
    }
    if (table.pattern === undefined) {
      throw new ConfigError(`${at}.pattern is required (the channels this table applies to) ${from}`);
    }
    const out: Record<string, unknown> = {};
    for (const key of NAMES) {
      const spec: KeySpec<unknown> = HISTORY_SPECS[key];
      if (table[key] === undefined) {
        out[key] = spec.default;
        continue;
      }
      const result = spec.schema.safeParse(table[key]);
      if (!result.success) {
        throw new ConfigError(`${at}.${key} must be ${spec.expect}, got ${showValue(table[key])} ${from}`);
      }
      out[key] = result.data;
    }
    const problem = historyPatternProblem(out.pattern as string);
    if (problem) {
      throw new ConfigError(`${at}.pattern ${problem}, got ${showValue(out.pattern)} ${from}`);
    }
    return out as unknown as HistoryConfig;
  });
}

/** The core's rules from the configured tables, in config order. */
export function historyRules(history: readonly HistoryConfig[]): HistoryRule[] {
  return history.map((h) => ({ pattern: h.pattern, size: h.size, ttlMs: h.ttl_ms }));
}
