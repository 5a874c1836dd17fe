import { KEY_BY_PATH, type KeyInfo } from './keys.js';
import type { KeyPath } from './schema.js';
import { checkValue } from './value.js';

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
  return checkValue(info.spec, a.path, a.value, a.isText, a.source);
}
