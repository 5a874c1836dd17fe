import type { Assignment } from './assign.js';
import { ConfigError } from './errors.js';
import type { Target } from './keys.js';

/** The assignments one flag or environment variable value makes. */
export function targetAssignments(target: Target, text: string, source: string): Assignment[] {
  if (target.kind === 'key') return [{ path: target.info.path, value: text, isText: true, source }];
  const parts = target.alias.split(text);
  if (parts === undefined) {
    throw new ConfigError(
      `${target.alias.keys.join(' + ')}: expected ${target.alias.expected}, got ${JSON.stringify(text)} (from ${source})`,
    );
  }
  return target.alias.keys.map((path, i) => ({ path, value: parts[i], isText: true, source }));
}
