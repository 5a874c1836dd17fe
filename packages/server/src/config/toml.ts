import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse, TomlError } from 'smol-toml';
import type { Assignment } from './assign.js';
import { ConfigError, showValue } from './errors.js';
import { HISTORY_KEY, type HistoryConfig, tomlHistory } from './history.js';
import { CONFIG_ENV, KEY_BY_PATH, KEYS, SECTIONS } from './keys.js';
import type { KeyPath } from './schema.js';
import { closest, didYouMean } from './suggest.js';

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

/** `--config` beats `PULSE_CONFIG` (empty = unset) beats `pulse.toml` in `cwd` if that exists. */
export function findConfigFile(
  flag: { path: string; source: string } | undefined,
  env: Record<string, string | undefined>,
  cwd: string,
): ConfigFile | undefined {
  if (flag) return { path: resolve(cwd, flag.path), label: flag.path, origin: flag.source };
  const fromEnv = env[CONFIG_ENV];
  if (fromEnv) return { path: resolve(cwd, fromEnv), label: fromEnv, origin: `env ${CONFIG_ENV}` };
  const fallback = resolve(cwd, DEFAULT_CONFIG_FILE);
  try {
    statSync(fallback);
  } catch {
    return undefined;
  }
  return { path: fallback, label: DEFAULT_CONFIG_FILE };
}

/** What a config file sets: key assignments, and its `[[history]]` tables if it has any. */
export interface ConfigFileContents {
  assignments: Assignment[];
  history: HistoryConfig[] | undefined;
}

/** Reads, parses and checks the names in a config file; key values are validated later. */
export function readConfigFile(file: ConfigFile): ConfigFileContents {
  const doc = parseToml(readText(file), file.label);
  return { assignments: tomlAssignments(doc, file.label), history: tomlHistory(doc, file.label) };
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
  for (const [section, body] of Object.entries(doc)) {
    if (section === HISTORY_KEY) continue; // [[history]] tables: tomlHistory
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
    for (const [key, value] of Object.entries(body)) {
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

function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

function suggestSection(name: string): string | undefined {
  const s = closest(name, [...SECTIONS, HISTORY_KEY]);
  if (s === HISTORY_KEY) return `[[${s}]]`;
  return s === undefined ? undefined : `[${s}]`;
}

/** A key path close to `name`; a bare key name (`port`) also matches the keys it names. */
function suggestKey(name: string): string | undefined {
  const s =
    closest(
      name,
      KEYS.map((k) => k.path),
    ) ?? KEYS.find((k) => k.key === name)?.path;
  return s === undefined ? undefined : JSON.stringify(s);
}
