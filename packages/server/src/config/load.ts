import { type Assignment, validate } from './assign.js';
import { envAssignments } from './env.js';
import { ConfigError } from './errors.js';
import { parseArgs } from './flags.js';
import { helpText } from './help.js';
import { KEY_BY_PATH, KEYS, type KeyInfo } from './keys.js';
import { CROSS_CHECKS, type CrossCheck, NOTICES, type PulseConfig, TABLE_ARRAYS } from './schema.js';
import { tableArrayPlace } from './table-array.js';
import { findConfigFile, readConfigFile } from './toml.js';
import { showSettingOf } from './value.js';

export type LoadResult =
  | {
      kind: 'run';
      config: PulseConfig;
      configFile?: string;
      /** One line each for settings that were accepted but have no effect; logged at start-up. */
      warnings: string[];
    }
  | { kind: 'help'; text: string }
  | { kind: 'version'; text: string };

/** A fresh copy of the built-in defaults. */
export function defaultConfig(): PulseConfig {
  const config: Record<string, Record<string, unknown>> = {};
  for (const k of KEYS) {
    const section = config[k.section] ?? {};
    config[k.section] = section;
    const value = k.spec.default;
    section[k.key] = Array.isArray(value) ? [...value] : value;
  }
  for (const spec of TABLE_ARRAYS) setTables(config, spec.path, []);
  return config as unknown as PulseConfig;
}

/** Stores the tables of the array of tables at `path` (`history`, `auth.users`, ...). */
function setTables(config: Record<string, unknown>, path: string, tables: unknown[]): void {
  const place = tableArrayPlace(path);
  if (place.section === undefined) config[place.key] = tables;
  else (config[place.section] as Record<string, unknown>)[place.key] = tables;
}

/**
 * The configuration from, later wins: defaults < TOML file < environment < flags.
 * `argv` excludes node and the script. Throws ConfigError, a one-line message
 * naming the key and its source, for any mistake. `commandDir` is where the `pulse` command is,
 * one of the places the seed broker's Broker.toml is looked for.
 */
export function loadConfig(
  argv: string[],
  env: Record<string, string | undefined>,
  cwd: string,
  version: string,
  commandDir?: string,
): LoadResult {
  const args = parseArgs(argv);
  if (args.action === 'help') return { kind: 'help', text: helpText(version) };
  if (args.action === 'version') return { kind: 'version', text: `pulse ${version}` };

  const file = findConfigFile(args.config, env, cwd, commandDir);
  const fromFile = file ? readConfigFile(file) : undefined;
  const warnings = [...(fromFile?.warnings ?? [])];
  const assignments: Assignment[] = [
    ...(fromFile?.assignments ?? []),
    ...envAssignments(env, warnings),
    ...args.assignments,
  ];
  warnings.push(...args.warnings);

  const config = defaultConfig();
  const table = config as unknown as Record<string, Record<string, unknown>>;
  // Arrays of tables ([[history]], [[auth.users]], ...) come from the file only.
  for (const [path, tables] of fromFile?.tables ?? []) setTables(table, path, tables);
  const sources = new Map<string, string>();
  for (const a of assignments) {
    const info = KEY_BY_PATH.get(a.path) as KeyInfo;
    sectionOf(table, info)[info.key] = validate(a);
    sources.set(a.path, a.source);
  }

  const settings = (check: CrossCheck) =>
    listOf(
      check.keys.map((path) => {
        const info = KEY_BY_PATH.get(path) as KeyInfo;
        const source = sources.get(path);
        const from = source === undefined ? 'default' : `from ${source}`;
        return `${path} = ${showSettingOf(info.spec, sectionOf(table, info)[info.key])} (${from})`;
      }),
    );
  for (const check of CROSS_CHECKS) {
    if (!check.test(config)) throw new ConfigError(`${check.message}, got ${settings(check)}`);
  }
  for (const notice of NOTICES) {
    const written = notice.keys.some((path) => sources.has(path));
    if (written && !notice.test(config)) warnings.push(`${settings(notice)}: ${notice.message}`);
  }

  return file ? { kind: 'run', config, configFile: file.path, warnings } : { kind: 'run', config, warnings };
}

/** `a`, `a and b`, `a, b and c`. */
function listOf(items: readonly string[]): string {
  return items.length <= 2 ? items.join(' and ') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}

/** The section that holds `info` in a config made by defaultConfig(), which made every section. */
function sectionOf(table: Record<string, Record<string, unknown>>, info: KeyInfo): Record<string, unknown> {
  return table[info.section] as Record<string, unknown>;
}
