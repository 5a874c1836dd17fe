import type { Assignment } from './assign.js';
import { ConfigError } from './errors.js';
import { CONFIG_ENV, ENVS, KEYS, SECTIONS } from './keys.js';
import { TABLE_ARRAYS } from './schema.js';
import { closest, didYouMean } from './suggest.js';
import { targetAssignments } from './targets.js';

/**
 * PulseAudio's own variables that fall under a Pulse section name (`log`).
 * They are ignored unless a key of that name is added to the table.
 * (PULSE_SERVER, PULSE_SINK, PULSE_COOKIE, ... need no entry: their first
 * segment is not a section.)
 */
const PULSEAUDIO_VARIABLES: ReadonlySet<string> = new Set([
  'PULSE_LOG_SYSLOG',
  'PULSE_LOG_JOURNAL',
  'PULSE_LOG_COLORS',
  'PULSE_LOG_TIME',
  'PULSE_LOG_FILE',
  'PULSE_LOG_META',
  'PULSE_LOG_BACKTRACE',
  'PULSE_LOG_BACKTRACE_SKIP',
  'PULSE_LOG_NO_RATE_LIMIT',
]);

/**
 * The configuration the environment sets, in the order to apply it: seed aliases,
 * then `PULSE_` short forms, then `PULSE_<SECTION>_<KEY>`. `PULSE_CONFIG` is read
 * elsewhere; names Pulse ignores add a line to `warnings`. A `PULSE_<SECTION>_...` variable that names no key is an error;
 * variables whose first segment is not a section are someone else's and ignored.
 */
export function envAssignments(env: Record<string, string | undefined>, warnings: string[]): Assignment[] {
  const found: { rank: number; assignments: Assignment[] }[] = [];
  for (const name of Object.keys(env).sort()) {
    const value = env[name];
    if (value === undefined) continue;
    const target = ENVS.get(name);
    if (target) {
      found.push({
        rank: target.rank,
        assignments: targetAssignments(target, value, `env ${name}`, warnings),
      });
      continue;
    }
    if (!name.startsWith('PULSE_') || name === CONFIG_ENV || PULSEAUDIO_VARIABLES.has(name)) continue;
    const tables = tableArrayOf(name);
    if (tables !== undefined) {
      throw new ConfigError(
        `${tables} cannot be set from the environment (env ${name}): write [[${tables}]] tables in the config file`,
      );
    }
    const section = sectionOf(name.slice('PULSE_'.length));
    if (section === undefined) continue;
    const key = name.slice('PULSE_'.length + section.length + 1).toLowerCase();
    const suggestion = closest(
      name,
      KEYS.flatMap((k) => k.envs),
    );
    throw new ConfigError(
      `unknown key ${JSON.stringify(`${section}.${key}`)} (from env ${name})${didYouMean(suggestion)}`,
    );
  }
  return found.sort((a, b) => a.rank - b.rank).flatMap((f) => f.assignments);
}

/**
 * The array of tables (`history`, `auth.users`, ...) a `PULSE_<PATH>_...` variable aims at;
 * `PULSE_AUTH_USERS` alone counts too (it would otherwise be an unknown key of [auth]).
 */
function tableArrayOf(name: string): string | undefined {
  for (const { path } of TABLE_ARRAYS) {
    const base = `PULSE_${path.replace('.', '_').toUpperCase()}`;
    if (name.startsWith(`${base}_`) || (path.includes('.') && name === base)) return path;
  }
  return undefined;
}

/** The longest section `S` such that `rest` is `S_<something>`. */
function sectionOf(rest: string): string | undefined {
  let best: string | undefined;
  for (const section of SECTIONS) {
    const prefix = `${section.toUpperCase()}_`;
    if (rest.length > prefix.length && rest.startsWith(prefix) && (!best || section.length > best.length)) {
      best = section;
    }
  }
  return best;
}
