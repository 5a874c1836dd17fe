import type { Assignment } from './assign.js';
import { ConfigError } from './errors.js';
import { isBooleanText } from './kinds.js';
import { CONFIG_FLAG, FLAGS, HELP_FLAGS, VERSION_FLAGS } from './keys.js';
import { closest, didYouMean } from './suggest.js';
import { targetAssignments } from './targets.js';

export interface ParsedArgs {
  /** `--help` / `--version` anywhere on the line win over everything else. */
  action?: 'help' | 'version';
  /** The last `--config FILE`. */
  config?: { path: string; source: string };
  /** Key values in command-line order (later wins). */
  assignments: Assignment[];
  /** One line each for flags that are accepted and ignored (the seed's --worker-threads). */
  warnings: string[];
}

/**
 * Reads `--flag value`, `--flag=value` and bare boolean flags (`--metrics-enabled`,
 * optionally followed by true/false/1/0/yes/no). Unknown flags, missing values and
 * positional arguments are errors.
 */
export function parseArgs(argv: readonly string[]): ParsedArgs {
  for (const arg of argv) {
    if (HELP_FLAGS.includes(arg)) return { action: 'help', assignments: [], warnings: [] };
    if (VERSION_FLAGS.includes(arg)) return { action: 'version', assignments: [], warnings: [] };
  }
  const assignments: Assignment[] = [];
  const warnings: string[] = [];
  let config: ParsedArgs['config'];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string; // i < argv.length
    if (arg === '--') {
      const after = argv[i + 1];
      if (after !== undefined) throw unexpected(after);
      break;
    }
    if (!arg.startsWith('--')) {
      if (arg.startsWith('-') && arg.length > 1)
        throw new ConfigError(`unknown flag ${arg} (see pulse --help)`);
      throw unexpected(arg);
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const inline = eq === -1 ? undefined : arg.slice(eq + 1);
    const flag = `--${name}`;
    const source = `flag ${flag}`;
    if (name === 'help' || name === 'version') throw new ConfigError(`flag ${flag} takes no value`);

    const target = name === CONFIG_FLAG ? undefined : FLAGS.get(name);
    if (name !== CONFIG_FLAG && !target) {
      const suggestion = closest(name, [...FLAGS.keys(), CONFIG_FLAG, 'help', 'version']);
      throw new ConfigError(`unknown flag ${flag}${didYouMean(suggestion && `--${suggestion}`)}`);
    }

    let value: string;
    const next = argv[i + 1];
    if (inline !== undefined) {
      value = inline;
    } else if (target?.kind === 'key' && target.info.spec.isBoolean) {
      const hasValue = next !== undefined && isBooleanText(next);
      value = hasValue ? next : 'true';
      if (hasValue) i++;
    } else if (next === undefined || next.startsWith('--')) {
      const metavar =
        target === undefined
          ? 'FILE'
          : target.kind === 'key'
            ? target.info.spec.metavar
            : target.kind === 'alias'
              ? target.alias.metavar
              : target.ignored.metavar;
      throw new ConfigError(`flag ${flag} needs a value (${flag} ${metavar})`);
    } else {
      value = next;
      i++;
    }

    if (target === undefined) {
      if (value === '') throw new ConfigError(`flag ${flag} needs a file name`);
      config = { path: value, source };
    } else {
      assignments.push(...targetAssignments(target, value, source, warnings));
    }
  }
  return config ? { config, assignments, warnings } : { assignments, warnings };
}

function unexpected(arg: string): ConfigError {
  return new ConfigError(
    `unexpected argument ${JSON.stringify(arg)} (pulse takes only flags; see pulse --help)`,
  );
}
