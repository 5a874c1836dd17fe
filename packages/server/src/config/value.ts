import { ConfigError, showSetting, showValue } from './errors.js';
import type { KeySpec } from './kinds.js';

/**
 * Validates one value against its key and returns the value to store. `name` is what the
 * message calls the key (`server.port`, `history[0].size`); `source` where the value came
 * from (`pulse.toml`, `env PULSE_PORT`, `flag --port`). Throws a one-line ConfigError.
 */
export function checkValue(
  spec: KeySpec<unknown>,
  name: string,
  value: unknown,
  isText: boolean,
  source: string,
): unknown {
  const input = isText ? spec.fromText(value as string) : value;
  const result = spec.check(input);
  if (result.ok) return result.value;
  const from = `(from ${source})`;
  const got = spec.secret ? showHidden(input) : showValue(value);
  if (!result.invalid) {
    if (result.standalone) throw new ConfigError(`${name}: ${result.message} ${from}`);
    throw new ConfigError(`${name} ${result.message}, got ${got} ${from}`);
  }
  const expect = isText ? spec.expectText : spec.expect;
  throw new ConfigError(`${name} must be ${expect}, got ${got} ${from}`);
}

/** Shows a validated setting for a message; a secret one by its length only. */
export function showSettingOf(spec: KeySpec<unknown>, value: unknown): string {
  return spec.secret ? showHidden(value) : showSetting(value);
}

/**
 * A credential without its text: `""`, `a string of 5 characters (value hidden)`,
 * `[3 characters, 20 characters] (values hidden)`, `an integer (value hidden)`: whatever its
 * type, a secret value is never shown (a password may be mistyped as a TOML number).
 */
function showHidden(value: unknown): string {
  if (value === '') return '""';
  if (typeof value === 'string') return `a string of ${characters(value)} (value hidden)`;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    if (value.every((v) => typeof v === 'string'))
      return `[${value.map(characters).join(', ')}] (values hidden)`;
    return `a list of ${value.length === 1 ? '1 item' : `${value.length} items`} (values hidden)`;
  }
  return `${kindOf(value)} (value hidden)`;
}

function kindOf(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a number';
  if (typeof value === 'bigint') return 'an integer';
  if (typeof value === 'boolean') return 'a boolean';
  if (value instanceof Date) return 'a date';
  if (typeof value === 'object') return 'a table';
  return 'a value';
}

function characters(text: string): string {
  return text.length === 1 ? '1 character' : `${text.length} characters`;
}
