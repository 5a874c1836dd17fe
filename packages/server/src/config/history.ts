import { type HistoryRule, historyPatternProblem } from '@pulse/core';
import { int, MAX_TIMER_MS, str } from './kinds.js';
import type { TableArray } from './table-array.js';

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

export const HISTORY_TABLES: TableArray<HistoryConfig> = {
  path: 'history',
  fields: {
    pattern: str('', 'channel pattern: an MQTT filter (+, #), a prefix ending with *, or a channel name', {
      nonEmpty: true,
      rules: [
        {
          test: (p) => historyPatternProblem(p) === undefined,
          message: (p) => historyPatternProblem(p) ?? '',
        },
      ],
    }),
    size: int(100, { min: 1, max: 1_000_000 }, 'publications kept per channel (the newest ones)'),
    ttl_ms: int(0, { min: 0, max: MAX_TIMER_MS }, 'how long a publication stays in history (0 = no expiry)'),
  },
  required: { pattern: 'the channels this table applies to' },
};

/** The core's rules from the configured tables, in config order. */
export function historyRules(history: readonly HistoryConfig[]): HistoryRule[] {
  return history.map((h) => ({ pattern: h.pattern, size: h.size, ttlMs: h.ttl_ms }));
}
