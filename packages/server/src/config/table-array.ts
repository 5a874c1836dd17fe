import { ConfigError, showValue } from './errors.js';
import type { KeySpec } from './kinds.js';
import { closest, didYouMean } from './suggest.js';
import { checkValue } from './value.js';

/** What is wrong with one table as a whole, once each of its fields is valid. */
export interface TableProblem {
  /** The field the message is about; none for the table as a whole. */
  key?: string;
  /** Completes `<path>[N].<key> ...` (or `<path>[N] ...`), e.g. `must be unique`. */
  message: string;
}

/**
 * A TOML array of tables (`[[history]]`, `[[auth.users]]`): each table has fixed fields with the
 * key kinds of kinds.ts. Tables are written in the config file only: they have no environment
 * variable or flag form.
 */
export interface TableArray<T> {
  /** Where the tables are: `history` (top level) or `<section>.<key>`, e.g. `auth.users`. */
  readonly path: string;
  readonly fields: { readonly [K in keyof T]: KeySpec<T[K]> };
  /** The fields that must be written, each with a hint of what it is (for the error). */
  readonly required: { readonly [K in keyof T]?: string };
  /** Checks a table whose fields are valid, knowing the tables before it. */
  check?(table: T, earlier: readonly T[]): TableProblem | undefined;
}

export function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

/** The section holding the tables at `path` (undefined at top level) and their key in it. */
export function tableArrayPlace(path: string): { section: string | undefined; key: string } {
  const dot = path.indexOf('.');
  return dot === -1
    ? { section: undefined, key: path }
    : { section: path.slice(0, dot), key: path.slice(dot + 1) };
}

/**
 * The tables of `spec` in a parsed TOML document, checked, absent fields at their defaults;
 * undefined when the document has none. Throws a one-line ConfigError naming
 * `<path>[N].<key>` and the file.
 */
export function readTableArray<T>(
  doc: Record<string, unknown>,
  spec: TableArray<T>,
  label: string,
): T[] | undefined {
  const place = tableArrayPlace(spec.path);
  const container = place.section === undefined ? doc : doc[place.section];
  if (!isTable(container) || !Object.hasOwn(container, place.key)) return undefined;
  const value = container[place.key];
  const from = `(from ${label})`;
  if (!Array.isArray(value)) {
    throw new ConfigError(
      `${spec.path} must be an array of tables (write [[${spec.path}]], not [${spec.path}]), got ${showValue(value)} ${from}`,
    );
  }
  const fields = spec.fields as Record<string, KeySpec<unknown>>;
  const names = Object.keys(fields);
  const required = spec.required as Record<string, string | undefined>;
  const tables: T[] = [];
  value.forEach((table: unknown, i) => {
    const at = `${spec.path}[${i}]`;
    if (!isTable(table)) throw new ConfigError(`${at} must be a table, got ${showValue(table)} ${from}`);
    for (const key of Object.keys(table)) {
      if (!Object.hasOwn(fields, key)) {
        const suggestion = closest(key, names);
        throw new ConfigError(
          `unknown key ${JSON.stringify(`${at}.${key}`)} in ${label}${didYouMean(suggestion && JSON.stringify(`${at}.${suggestion}`))}`,
        );
      }
    }
    for (const key of names) {
      const why = required[key];
      if (why !== undefined && table[key] === undefined) {
        throw new ConfigError(`${at}.${key} is required (${why}) ${from}`);
      }
    }
    const out: Record<string, unknown> = {};
    for (const [key, field] of Object.entries(fields)) {
      out[key] =
        table[key] === undefined
          ? copy(field.default)
          : checkValue(field, `${at}.${key}`, table[key], false, label);
    }
    const problem = spec.check?.(out as T, tables);
    if (problem) {
      const where = problem.key === undefined ? at : `${at}.${problem.key}`;
      throw new ConfigError(`${where} ${problem.message} ${from}`);
    }
    tables.push(out as T);
  });
  return tables;
}

function copy(value: unknown): unknown {
  return Array.isArray(value) ? [...value] : value;
}
