import { type Assignment, validate } from './assign.js';
import { envAssignments } from './env.js';
import { ConfigError, showSetting } from './errors.js';
import { parseArgs } from './flags.js';
import { helpText } from './help.js';
import { KEY_BY_PATH, KEYS, type KeyInfo } from './keys.js';
import { CROSS_CHECKS, type PulseConfig } from './schema.js';
import { findConfigFile, readConfigFile } from './toml.js';

export type LoadResult =
  | { kind: 'run'; config: PulseConfig; configFile?: string }
  | { kind: 'help'; text: string }
  | { kind: 'version'; text: string };

/** A fresh copy of the built-in defaults. */
export function defaultConfig(): PulseConfig {
  const config: Record<string, Record<string, unknown>> = {};
  for (const k of KEYS) {
    config[k.section] ??= {};
    config[k.section][k.key] = k.spec.default;
  }
  const result = config as unknown as PulseConfig;
  result.history = [];
  return result;
}

/**
 * The configuration from, later wins: defaults < TOML file < environment < flags.
 * `argv` excludes node and the script. Throws ConfigError, a one-line message
 * naming the key and its source, for any mistake.
 */
export function loadConfig(
  argv: string[],
  env: Record<string, string | undefined>,
  cwd: string,
  version: string,
): LoadResult {
  const args = parseArgs(argv);
  if (args.action === 'help') return { kind: 'help', text: helpText(version) };
  if (args.action === 'version') return { kind: 'version', text: `pulse ${version}` };

  const file = findConfigFile(args.config, env, cwd);
  const fromFile = file ? readConfigFile(file) : undefined;
  const assignments: Assignment[] = [
    ...(fromFile?.assignments ?? []),
    ...envAssignments(env),
    ...args.assignments,
  ];

  const config = defaultConfig();
  // [[history]] comes from the file only (an array of tables has no env or flag form).
  if (fromFile?.history) config.history = fromFile.history;
  const table = config as unknown as Record<string, Record<string, unknown>>;
  const sources = new Map<string, string>();
  for (const a of assignments) {
    const info = KEY_BY_PATH.get(a.path) as KeyInfo;
    table[info.section][info.key] = validate(a);
    sources.set(a.path, a.source);
  }

  for (const check of CROSS_CHECKS) {
    if (check.test(config)) continue;
    const got = check.keys.map((path) => {
      const info = KEY_BY_PATH.get(path) as KeyInfo;
      const source = sources.get(path);
      const from = source === undefined ? 'default' : `from ${source}`;
      return `${path} = ${showSetting(table[info.section][info.key])} (${from})`;
    });
    throw new ConfigError(`${check.message}, got ${got.join(' and ')}`);
  }

  return file ? { kind: 'run', config, configFile: file.path } : { kind: 'run', config };
}
