import { parseSharedFilter } from '@pulse/core';

/**
 * True when every channel that `filter` matches is also matched by `pattern` (both MQTT
 * filters: `+` one whole level, `#` the last level and everything below, including the
 * parent itself). A concrete channel is a filter without wildcards, so this also answers
 * "may publish to channel X".
 *
 * `chat/#` covers `chat/+/x`, `chat/a` and `chat`; `chat/+` covers `chat/a` but not
 * `chat/#` nor `chat/a/b`. As in MQTT matching, a pattern starting with a wildcard does not
 * cover channels starting with `$` (`#` does not give `$SYS/...`).
 */
export function covers(pattern: string, filter: string): boolean {
  if (pattern === filter) return true;
  if (pattern === '#') return filter.charCodeAt(0) !== 0x24;
  const p = pattern.split('/');
  const f = filter.split('/');
  if ((p[0] === '+' || p[0] === '#') && filter.charCodeAt(0) === 0x24) return false;
  for (let i = 0; i < p.length; i++) {
    const level = p[i] as string; // i < p.length
    if (level === '#') return true;
    if (i >= f.length) return false;
    const want = f[i];
    if (want === '#') return false;
    if (level === '+') continue;
    if (want === '+' || want !== level) return false;
  }
  return f.length === p.length;
}

/** The filter a subscription really matches: `$share/{group}/{filter}` is `{filter}`. */
export function effectiveFilter(filter: string): string {
  const shared = parseSharedFilter(filter);
  return shared === undefined ? filter : shared.filter;
}
