import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse, TomlError } from 'smol-toml';
import type { Assignment } from './assign.js';
import { ConfigError, showValue } from './errors.js';
import { CONFIG_ENV, KEY_BY_PATH, KEYS, SECTIONS } from './keys.js';
import { type KeyPath, TABLE_ARRAYS } from './schema.js';
import { SEED_CONFIG_FILE, translateSeedKeys } from './seed-broker.js';
import { closest, didYouMean } from './suggest.js';
import { isTable, readTableArray, tableArrayPlace } from './table-array.js';

export const DEFAULT_CONFIG_FILE = 'pulse.toml';

/** The TOML file to read. */
export interface ConfigFile {
  /** Absolute path. */
  path: string;
  /** The name used in messages: the path as the user gave it, or `pulse.toml`. */
  label: string;
  /** Who asked for it: `flag --config`, `env PULSE_CONFIG`, or undefined for `./pulse.toml`. */
  origin?: string;
}

/**
 * `--config` beats `PULSE_CONFIG` (empty = unset) beats `pulse.toml` in `cwd`; without any of
 * them, the MQTT broker seed's `Broker.toml` in `cwd`, else next to the `pulse` command
 * (`commandDir`), as the seed looks for it next to its executable.
 */
export function findConfigFile(
  flag: { path: string; source: string } | undefined,
  env: Record<string, string | undefined>,
  cwd: string,
  commandDir?: string,
): ConfigFile | undefined {
  if (flag) return { path: resolve(cwd, flag.path), label: flag.path, origin: flag.source };
  const fromEnv = env[CONFIG_ENV];
  if (fromEnv) return { path: resolve(cwd, fromEnv), label: fromEnv, origin: `env ${CONFIG_ENV}` };
  const candidates = [
    resolve(cwd, DEFAULT_CONFIG_FILE),
    resolve(cwd, SEED_CONFIG_FILE),
    ...(commandDir === undefined ? [] : [resolve(commandDir, SEED_CONFIG_FILE)]),
  ];
  const found = candidates.find(isFile);
  if (found === undefined) return undefined;
  return { path: found, label: found === candidates[0] ? DEFAULT_CONFIG_FILE : found };
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** What a config file sets: key assignments, and the arrays of tables it has, by path. */
export interface ConfigFileContents {
  assignments: Assignment[];
  /** `history`, `auth.users`, ... (TABLE_ARRAYS) to their checked tables; only those written. */
  tables: Map<string, unknown[]>;
  /** One line each for what the file sets that Pulse ignores. */
  warnings: string[];
}

/** Reads, parses and checks the names in a config file; key values are validated later. */
export function readConfigFile(file: ConfigFile): ConfigFileContents {
  const seed = translateSeedKeys(parseToml(readText(file), file.label), file.label, file.path);
  const doc = seed.doc;
  const assignments = [...tomlAssignments(doc, file.label), ...seed.assignments];
  const tables = new Map<string, unknown[]>();
  for (const spec of TABLE_ARRAYS) {
    const found = readTableArray(doc, spec, file.label);
    if (found) tables.set(spec.path, found);
  }
  return { assignments, tables, warnings: seed.warnings };
}

/** The paths of the arrays of tables (`history`, `auth.users`, ...). */
const TABLE_PATHS: readonly string[] = TABLE_ARRAYS.map((t) => t.path);

/** The TOML key names of the arrays of tables in `section` (undefined = top level). */
function tableKeys(section: string | undefined): string[] {
  return TABLE_PATHS.map(tableArrayPlace)
    .filter((p) => p.section === section)
    .map((p) => p.key);
}

function readText(file: ConfigFile): string {
  const from = file.origin ? ` (from ${file.origin})` : '';
  try {
    return readFileSync(file.path, 'utf8').replace(/^\uFEFF/, '');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'not found'
        : code === 'EISDIR'
          ? 'is a directory'
          : code === 'EACCES' || code === 'EPERM'
            ? 'cannot be read: permission denied'
            : `cannot be read: ${code ?? (err as Error).message}`;
    throw new ConfigError(`config file ${JSON.stringify(file.label)} ${why}${from}`);
  }
}

export function parseToml(text: string, label: string): Record<string, unknown> {
  try {
    return parse(text, { integersAsBigInt: true });
  } catch (err) {
    if (err instanceof TomlError) {
      const reason = err.message.replace(/^Invalid TOML document: /, '').split('\n')[0];
      throw new ConfigError(`invalid TOML in ${label} at line ${err.line}, column ${err.column}: ${reason}`);
    }
    throw new ConfigError(`invalid TOML in ${label}: ${(err as Error).message}`);
  }
}

/** Checks every section and key name of a parsed document and lists its values. */
export function tomlAssignments(doc: Record<string, unknown>, label: string): Assignment[] {
  const out: Assignment[] = [];
  const topTables = tableKeys(undefined);
  for (const [section, body] of Object.entries(doc)) {
    if (topTables.includes(section)) continue; // [[history]] tables: readTableArray
    if (!SECTIONS.includes(section)) {
      if (isTable(body)) {
        throw new ConfigError(
          `unknown section [${section}] in ${label}${didYouMean(suggestSection(section))}`,
        );
      }
      // An array of tables ([[name]]) is most likely a misspelt [[history]].
      const suggestion = Array.isArray(body) ? suggestSection(section) : suggestKey(section);
      throw new ConfigError(`unknown key ${JSON.stringify(section)} in ${label}${didYouMean(suggestion)}`);
    }
    if (!isTable(body)) {
      throw new ConfigError(`[${section}] in ${label} must be a table, got ${showValue(body)}`);
    }
    const sectionTables = tableKeys(section);
    for (const [key, value] of Object.entries(body)) {
      if (sectionTables.includes(key)) continue; // [[auth.users]], ...: readTableArray
      const path = `${section}.${key}`;
      if (!KEY_BY_PATH.has(path)) {
        throw new ConfigError(
          `unknown key ${JSON.stringify(path)} in ${label}${didYouMean(suggestKey(path))}`,
        );
      }
      out.push({ path: path as KeyPath, value, isText: false, source: label });
    }
  }
  return out;
}

function suggestSection(name: string): string | undefined {
  const tables = tableKeys(undefined);
  const s = closest(name, [...SECTIONS, ...tables]);
  if (s !== undefined && tables.includes(s)) return `[[${s}]]`;
  return s === undefined ? undefined : `[${s}]`;
}

/**
 * A key path close to `name`, or an array of tables (`[[auth.users]]`); a bare key name
 * (`port`) also matches the keys it names.
 */
function suggestKey(name: string): string | undefined {
  const s = closest(name, [...KEYS.map((k) => k.path), ...TABLE_PATHS.filter((p) => p.includes('.'))]);
  if (s !== undefined && TABLE_PATHS.includes(s)) return `[[${s}]]`;
  const found = s ?? KEYS.find((k) => k.key === name)?.path;
  return found === undefined ? undefined : JSON.stringify(found);
}
