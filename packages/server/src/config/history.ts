import { type HistoryRule, historyPatternProblem } from '@pulse/core';
import { int, MAX_TIMER_MS, str } from './kinds.js';
import type { TableArray } from './table-array.js';

/**
 * One `[[history]]` table: the channels `pattern` matches keep their newest `size`
 * publications, at most `max_bytes` of them, for `ttl_ms` (0 = until pushed out). TOML only:
 * an array of tables has no environment variable or flag form.
 */
export interface HistoryConfig {
  pattern: string;
  size: number;
  ttl_ms: number;
  /** Always set when loaded; a table built in code without it gets the default. */
  max_bytes?: number;
}

/** Default `max_bytes` of a `[[history]]` table: 4 MiB per channel. */
const DEFAULT_MAX_BYTES = 4_194_304;

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
    max_bytes: int(
      DEFAULT_MAX_BYTES,
      { min: 1 },
      'bytes (payload, channel, properties) kept per channel; past them the oldest publications go',
    ),
  },
  required: { pattern: 'the channels this table applies to' },
};

/** The core's rules from the configured tables, in config order. */
export function historyRules(history: readonly HistoryConfig[]): HistoryRule[] {
  return history.map((h) => ({
    pattern: h.pattern,
    size: h.size,
    ttlMs: h.ttl_ms,
    maxBytes: h.max_bytes ?? DEFAULT_MAX_BYTES,
  }));
}
