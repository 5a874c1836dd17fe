import { ConfigError, showValue } from './errors.js';
import { KEY_BY_PATH, type KeyInfo } from './keys.js';
import type { KeyPath } from './schema.js';

/** One value for one key from one source, before validation. */
export interface Assignment {
  path: KeyPath;
  /** A TOML value, or the text of an environment variable or flag. */
  value: unknown;
  isText: boolean;
  /** Where it came from, for messages: `pulse.toml`, `env PULSE_PORT`, `flag --port`. */
  source: string;
}

/** Validates an assignment against its key and returns the value to store. Throws ConfigError. */
export function validate(a: Assignment): unknown {
  const info = KEY_BY_PATH.get(a.path) as KeyInfo;
  const input = a.isText ? info.spec.fromText(a.value as string) : a.value;
  const result = info.spec.schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const from = `(from ${a.source})`;
  if (issue?.code === 'custom') {
    if (issue.params?.standalone === true) throw new ConfigError(`${a.path}: ${issue.message} ${from}`);
    throw new ConfigError(`${a.path} ${issue.message}, got ${showValue(a.value)} ${from}`);
  }
  const expect = a.isText ? info.spec.expectText : info.spec.expect;
  throw new ConfigError(`${a.path} must be ${expect}, got ${showValue(a.value)} ${from}`);
}
