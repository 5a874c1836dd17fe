import { ErrorCode } from '@pulse/protocol';
import { LEVEL_SEPARATOR, parseSharedFilter } from './channel.js';
import { Refusal } from './refusal.js';

/**
 * Levels a topic or filter may have by default (`limits.max_topic_levels`). EMQX's default;
 * Mosquitto refuses more than 200 separators since CVE-2019-11779 (a stack overflow on deep
 * topics). Real hierarchies have a handful of levels; every walk over levels is bounded by this.
 */
export const DEFAULT_MAX_TOPIC_LEVELS = 128;

/**
 * Refuses a channel or filter of more than `max` levels (for `$share/{group}/{filter}`, the
 * levels of `{filter}`, the part that is matched). Stops counting at `max + 1`.
 */
export function checkTopicLevels(name: string, max: number): Refusal | undefined {
  // A name of n characters has at most n + 1 levels: short names, nearly all, are not counted.
  if (name.length < max) return undefined;
  const matched = parseSharedFilter(name)?.filter ?? name;
  let levels = 1;
  for (let at = matched.indexOf(LEVEL_SEPARATOR); at !== -1; at = matched.indexOf(LEVEL_SEPARATOR, at + 1)) {
    if (++levels > max) return new Refusal(ErrorCode.InvalidChannel, `more than ${max} topic levels`);
  }
  return undefined;
}
