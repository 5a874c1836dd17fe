/**
 * One configuration key: its type, default, limits and help line. The same record
 * drives TOML validation, environment variables, CLI flags and `--help`.
 */
export interface KeySpec<T> {
  readonly default: T;
  readonly help: string;
  /** Placeholder shown in --help, e.g. `PORT`, `N`, `drop|disconnect`. */
  readonly metavar: string;
  /** `true` for booleans: the flag may stand alone, meaning true. */
  readonly isBoolean: boolean;
  /** What a valid value is, completing "must be ...". */
  readonly expect: string;
  /** Same, for values written as text (environment variables and flags). */
  readonly expectText: string;
  /** Validates a typed value (from TOML, or from `fromText`): the config value, or what is wrong. */
  readonly check: (input: unknown) => Checked<T>;
  /** Turns env/flag text into the typed value `schema` expects; unparseable text is returned as is. */
  readonly fromText: (text: string) => unknown;
  /** Extra flag names (without `--`) besides `--<section>-<key>`. */
  readonly flags: readonly string[];
  /** Extra environment variable names besides `PULSE_<SECTION>_<KEY>`. */
  readonly envs: readonly string[];
  /** A credential: error messages give its length, never its text. */
  readonly secret: boolean;
}

interface Extras {
  /** Extra flag names (without `--`). */
  flags?: readonly string[];
  /** Extra environment variable names. */
  envs?: readonly string[];
  metavar?: string;
  secret?: boolean;
}

/** The fields every kind fills the same way from `extras`. */
function names(extras: Extras): Pick<KeySpec<unknown>, 'flags' | 'envs' | 'secret'> {
  return { flags: extras.flags ?? [], envs: extras.envs ?? [], secret: extras.secret ?? false };
}

/** Longest delay setTimeout/setInterval honour; larger values would fire at once. */
export const MAX_TIMER_MS = 2_147_483_647;

/** A `<section>.<key>` check that is not "type or range": a message after the key name. */
export interface Rule<T> {
  test: (value: T) => boolean;
  /**
   * Completes "<key> ...", e.g. `must start with "/"`; or, with `standalone`, a sentence of its own.
   * A function gets the failing value.
   */
  message: string | ((value: T) => string);
  standalone?: boolean;
}

/**
 * A value checked against its key: the value to store; or `invalid` (not the key's type or
 * range: the message says what `expect` says), or the message of the first rule it broke.
 */
export type Checked<T> =
  | { ok: true; value: T }
  | { ok: false; invalid: true }
  | { ok: false; invalid: false; message: string; standalone: boolean };

const INVALID = { ok: false, invalid: true } as const;

/**
 * `isType` first, then each rule in order. Plain checks, not a schema library: these five
 * kinds are all the configuration needs, and a validation library would be most of a fresh
 * server's memory (docs/BENCHMARKS.md, "Idle memory").
 */
function checker<T>(
  isType: (input: unknown) => input is T,
  rules: readonly Rule<T>[],
  stored: (value: T) => T = (value) => value,
): (input: unknown) => Checked<T> {
  return (input) => {
    if (!isType(input)) return INVALID;
    for (const r of rules) {
      if (r.test(input)) continue;
      const message = typeof r.message === 'string' ? r.message : r.message(input);
      return { ok: false, invalid: false, message, standalone: r.standalone === true };
    }
    return { ok: true, value: stored(input) };
  };
}

const isBoolean = (input: unknown): input is boolean => typeof input === 'boolean';
const isString = (input: unknown): input is string => typeof input === 'string';
const isNonEmptyString = (input: unknown): input is string => typeof input === 'string' && input.length > 0;
const isNonEmptyStringList = (input: unknown): input is string[] =>
  Array.isArray(input) && input.every(isNonEmptyString);

/** An integer. TOML integers only (a float such as `8080.0` is rejected); env/flag text: decimal digits only. */
export function int(
  def: number,
  range: { min: number; max?: number },
  help: string,
  extras: Extras = {},
): KeySpec<number> {
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  const expect =
    range.max === undefined
      ? `an integer >= ${range.min}`
      : `an integer between ${range.min} and ${range.max}`;
  return {
    default: def,
    help,
    metavar: extras.metavar ?? 'N',
    isBoolean: false,
    expect,
    expectText: expect,
    // TOML integers arrive as BigInt (smol-toml), so that 2^53 + 1 is refused, not rounded.
    check: (input) =>
      typeof input === 'bigint' && input >= BigInt(range.min) && input <= BigInt(max)
        ? { ok: true, value: Number(input) }
        : INVALID,
    fromText: (text) => (/^[0-9]+$/.test(text) ? BigInt(text) : text),
    ...names(extras),
  };
}

/** A TCP port; 0 has the meaning the help line gives it (off, or any free port). */
export function port(def: number, help: string, extras: Extras = {}): KeySpec<number> {
  return int(def, { min: 0, max: 65535 }, help, { metavar: 'PORT', ...extras });
}

const TRUE_TEXT = new Set(['true', '1', 'yes']);
const FALSE_TEXT = new Set(['false', '0', 'no']);

/** Whether `text` is one of the accepted boolean spellings (true/false, 1/0, yes/no; any case). */
export function isBooleanText(text: string): boolean {
  const t = text.toLowerCase();
  return TRUE_TEXT.has(t) || FALSE_TEXT.has(t);
}

export function bool(
  def: boolean,
  help: string,
  extras: Extras & { rules?: readonly Rule<boolean>[] } = {},
): KeySpec<boolean> {
  return {
    default: def,
    help,
    metavar: extras.metavar ?? '[BOOL]',
    isBoolean: true,
    expect: 'true or false',
    expectText: 'a boolean (true/false, 1/0 or yes/no)',
    check: checker(isBoolean, extras.rules ?? []),
    fromText: (text) => {
      const t = text.toLowerCase();
      if (TRUE_TEXT.has(t)) return true;
      if (FALSE_TEXT.has(t)) return false;
      return text;
    },
    ...names(extras),
  };
}

export function str(
  def: string,
  help: string,
  extras: Extras & { nonEmpty?: boolean; rules?: readonly Rule<string>[] } = {},
): KeySpec<string> {
  const expect = extras.nonEmpty ? 'a non-empty string' : 'a string';
  return {
    default: def,
    help,
    metavar: extras.metavar ?? 'TEXT',
    isBoolean: false,
    expect,
    expectText: expect,
    check: checker(extras.nonEmpty ? isNonEmptyString : isString, extras.rules ?? []),
    fromText: (text) => text,
    ...names(extras),
  };
}

/** One of a fixed set of strings. */
export function oneOf<const C extends readonly [string, ...string[]]>(
  choices: C,
  def: C[number],
  help: string,
  extras: Extras = {},
): KeySpec<C[number]> {
  const expect = `one of ${choices.map((c) => JSON.stringify(c)).join(', ')}`;
  return {
    default: def,
    help,
    metavar: extras.metavar ?? choices.join('|'),
    isBoolean: false,
    expect,
    expectText: expect,
    check: checker((input): input is C[number] => choices.includes(input as string), []),
    fromText: (text) => text,
    ...names(extras),
  };
}

/**
 * A list of non-empty strings: a TOML array of strings; as env/flag text, comma-separated
 * items, each trimmed (empty text is the empty list; an empty item is an error).
 */
export function strList(
  def: readonly string[],
  help: string,
  extras: Extras & { rules?: readonly Rule<string[]>[] } = {},
): KeySpec<string[]> {
  return {
    default: [...def],
    help,
    metavar: extras.metavar ?? 'A,B,...',
    isBoolean: false,
    expect: 'an array of non-empty strings',
    expectText: 'a comma-separated list of non-empty items (empty text = no items)',
    check: checker(isNonEmptyStringList, extras.rules ?? [], (list) => [...list]),
    fromText: (text) => {
      if (text.trim() === '') return [];
      const items = text.split(',').map((item) => item.trim());
      return items.includes('') ? text : items;
    },
    ...names(extras),
  };
}

/** Empty, or a URL starting with http:// or https://. */
export const HTTP_URL_RULE: Rule<string> = {
  test: (v) => v === '' || (/^https?:\/\/./i.test(v) && URL.canParse(v)),
  message: 'must be empty or a URL starting with http:// or https://',
};
