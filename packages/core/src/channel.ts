import { ErrorCode, SHARED_PREFIX } from '@pulse/protocol';
import { Refusal } from './refusal.js';

export const MAX_CHANNEL_LENGTH = 256;
export const LEVEL_SEPARATOR = '/';

function printableAscii(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

function hasWildcardLevel(name: string): boolean {
  if (name.indexOf('+') === -1 && name.indexOf('#') === -1) return false;
  for (const level of name.split(LEVEL_SEPARATOR)) if (level === '+' || level === '#') return true;
  return false;
}

function shapeProblem(name: string): string | undefined {
  if (name.length === 0 || name.length > MAX_CHANNEL_LENGTH)
    return `channel must be 1-${MAX_CHANNEL_LENGTH} bytes`;
  if (!printableAscii(name)) return 'channel must be printable ASCII';
  return undefined;
}

/** True for `$...` channels, reserved for the server (e.g. `$SYS/...`). */
export function isSystemChannel(name: string): boolean {
  return name.charCodeAt(0) === 0x24;
}

/** A channel a client may publish to (or set presence on): concrete, not reserved. */
export function checkPublishChannel(name: string): Refusal | undefined {
  const problem = shapeProblem(name);
  if (problem) return new Refusal(ErrorCode.InvalidChannel, problem);
  if (isSystemChannel(name)) return new Refusal(ErrorCode.Forbidden, 'channels starting with $ are reserved');
  if (hasWildcardLevel(name)) return new Refusal(ErrorCode.InvalidChannel, 'cannot publish to a wildcard');
  return undefined;
}

export { SHARED_PREFIX };

export interface SharedFilter {
  group: string;
  filter: string;
}

/** Splits `$share/{group}/{filter}`; undefined when `name` is not a shared subscription. */
export function parseSharedFilter(name: string): SharedFilter | undefined {
  if (!name.startsWith(SHARED_PREFIX)) return undefined;
  const rest = name.slice(SHARED_PREFIX.length);
  const slash = rest.indexOf('/');
  if (slash === -1) return { group: rest, filter: '' };
  return { group: rest.slice(0, slash), filter: rest.slice(slash + 1) };
}

/**
 * Checks a `$share/{group}/{filter}` name (MQTT 5 §4.8.2: a non-empty group without wildcards,
 * then a filter that `checkFilter` accepts and that is not itself shared). Undefined result
 * and `shared: false` when `name` is not a shared subscription, so that the caller applies
 * its own rules.
 */
export function checkSharedFilter(
  name: string,
  checkFilter: (filter: string) => Refusal | undefined,
): { shared: boolean; refusal: Refusal | undefined } {
  const shared = parseSharedFilter(name);
  if (!shared) return { shared: false, refusal: undefined };
  if (shared.group.length === 0 || /[+#]/.test(shared.group) || shared.filter.length === 0) {
    return {
      shared: true,
      refusal: new Refusal(ErrorCode.InvalidChannel, 'shared subscriptions are $share/{group}/{filter}'),
    };
  }
  // Not checked by recursion: `$share/g/$share/g/...` would nest as deep as the name is long.
  if (shared.filter.startsWith(SHARED_PREFIX)) {
    return {
      shared: true,
      refusal: new Refusal(ErrorCode.InvalidChannel, 'the filter of a shared subscription cannot be shared'),
    };
  }
  return { shared: true, refusal: checkFilter(shared.filter) };
}

/**
 * A channel filter a client may subscribe to: a concrete channel, or MQTT-style wildcards where
 * a whole level is `+`, or `#` as the last level. `$SYS/...` may be watched; other `$` names are reserved.
 */
export function checkSubscribeFilter(name: string): Refusal | undefined {
  const shared = checkSharedFilter(name, checkSubscribeFilter);
  if (shared.shared) return shared.refusal;
  const problem = shapeProblem(name);
  if (problem) return new Refusal(ErrorCode.InvalidChannel, problem);
  if (isSystemChannel(name) && !name.startsWith('$SYS/') && name !== '$SYS') {
    return new Refusal(ErrorCode.InvalidChannel, 'channels starting with $ are reserved');
  }
  const hash = name.indexOf('#');
  if (hash !== -1) {
    const levels = name.split(LEVEL_SEPARATOR);
    const at = levels.indexOf('#');
    if (at !== -1 && at !== levels.length - 1) {
      return new Refusal(ErrorCode.InvalidChannel, '"#" must be the last level');
    }
  }
  return undefined;
}

export function isWildcardFilter(filter: string): boolean {
  return hasWildcardLevel(filter);
}
