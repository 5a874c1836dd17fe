import type { KeySpec } from './kinds.js';
import {
  COMPOUND_ALIASES,
  type CompoundAlias,
  IGNORED_SEED_NAMES,
  type IgnoredSeedName,
  type KeyPath,
  SCHEMA,
  TABLE_ARRAYS,
} from './schema.js';
import { tableArrayPlace } from './table-array.js';

/** One key of the table with the names it goes by. */
export interface KeyInfo {
  section: string;
  key: string;
  path: KeyPath;
  spec: KeySpec<unknown>;
  /** `--<section>-<key>` first, then the short forms. Without `--`. */
  flags: string[];
  /** `PULSE_<SECTION>_<KEY>` first, then the short forms and seed aliases. */
  envs: string[];
}

/** Names that are not keys: the config file, help and version. */
export const CONFIG_FLAG = 'config';
export const CONFIG_ENV = 'PULSE_CONFIG';
export const HELP_FLAGS: readonly string[] = ['--help', '-h'];
export const VERSION_FLAGS: readonly string[] = ['--version', '-V', '-v'];

export const SECTIONS: readonly string[] = Object.keys(SCHEMA);

export const KEYS: readonly KeyInfo[] = SECTIONS.flatMap((section) =>
  Object.entries(SCHEMA[section as keyof typeof SCHEMA]).map(([key, spec]): KeyInfo => {
    const flag = `${section}-${key}`.replaceAll('_', '-');
    const env = `PULSE_${section}_${key}`.toUpperCase();
    return {
      section,
      key,
      path: `${section}.${key}` as KeyPath,
      spec: spec as KeySpec<unknown>,
      flags: unique([flag, ...spec.flags]),
      envs: unique([env, ...spec.envs]),
    };
  }),
);

export const KEY_BY_PATH: ReadonlyMap<string, KeyInfo> = new Map(KEYS.map((k) => [k.path, k]));

for (const { path } of TABLE_ARRAYS) {
  const { section } = tableArrayPlace(path);
  const clash =
    KEY_BY_PATH.has(path) || (section === undefined ? SECTIONS.includes(path) : !SECTIONS.includes(section));
  if (clash)
    throw new Error(`config schema: the array of tables ${path} clashes with a key or has no section`);
}

/** What a flag name (without `--`) or an environment variable name stands for. */
export type Target =
  | { kind: 'key'; info: KeyInfo; rank: number }
  | { kind: 'alias'; alias: CompoundAlias; rank: number }
  | { kind: 'ignored'; ignored: IgnoredSeedName; rank: number };

/**
 * Ranks order several environment variables setting the same key: the full
 * `PULSE_<SECTION>_<KEY>` (3) beats a `PULSE_` short form (2) beats a seed alias (1).
 * Flags are applied in command-line order instead.
 */
export const FLAGS: ReadonlyMap<string, Target> = index(
  KEYS.flatMap((info) => info.flags.map((name) => [name, { kind: 'key', info, rank: 0 }] as const)),
  COMPOUND_ALIASES.map((alias) => [alias.flag, { kind: 'alias', alias, rank: 0 }] as const),
  IGNORED_SEED_NAMES.map((ignored) => [ignored.flag, { kind: 'ignored', ignored, rank: 0 }] as const),
);

export const ENVS: ReadonlyMap<string, Target> = index(
  KEYS.flatMap((info) =>
    info.envs.map(
      (name, i) =>
        [name, { kind: 'key', info, rank: i === 0 ? 3 : name.startsWith('PULSE_') ? 2 : 1 }] as const,
    ),
  ),
  COMPOUND_ALIASES.map((alias) => [alias.env, { kind: 'alias', alias, rank: 1 }] as const),
  IGNORED_SEED_NAMES.map((ignored) => [ignored.env, { kind: 'ignored', ignored, rank: 1 }] as const),
);

function index(...groups: (readonly (readonly [string, Target])[])[]): Map<string, Target> {
  const map = new Map<string, Target>();
  for (const [name, target] of groups.flat()) {
    if (map.has(name) || name === CONFIG_FLAG || name === CONFIG_ENV) {
      throw new Error(`config schema: the name ${name} is used twice`);
    }
    map.set(name, target);
  }
  return map;
}

function unique(names: string[]): string[] {
  return [...new Set(names)];
}
