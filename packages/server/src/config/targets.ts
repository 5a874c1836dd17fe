import type { Assignment } from './assign.js';
import { ConfigError } from './errors.js';
import type { Target } from './keys.js';
import type { IgnoredSeedName } from './schema.js';

/** The warning for a seed name that Pulse ignores, set to `value` by `source`. */
export function ignoredWarning(ignored: IgnoredSeedName, value: string, source: string): string {
  return `${source} = ${value} is ignored: ${ignored.why}`;
}

/**
 * The assignments one flag or environment variable value makes; a name Pulse ignores makes
 * none and adds its warning to `warnings`.
 */
export function targetAssignments(
  target: Target,
  text: string,
  source: string,
  warnings: string[],
): Assignment[] {
  if (target.kind === 'key') return [{ path: target.info.path, value: text, isText: true, source }];
  if (target.kind === 'ignored') {
    warnings.push(ignoredWarning(target.ignored, text, source));
    return [];
  }
  const parts = target.alias.split(text);
  if (parts === undefined) {
    throw new ConfigError(
      `${target.alias.keys.join(' + ')}: expected ${target.alias.expected}, got ${JSON.stringify(text)} (from ${source})`,
    );
  }
  return target.alias.keys.map((path, i) => ({ path, value: parts[i], isText: true, source }));
}
