import { showSetting } from './errors.js';
import { CONFIG_ENV, CONFIG_FLAG, KEYS, SECTIONS } from './keys.js';
import { COMPOUND_ALIASES, IGNORED_SEED_NAMES, TABLE_ARRAYS } from './schema.js';
import { SEED_CONFIG_FILE } from './seed-broker.js';
import { DEFAULT_CONFIG_FILE } from './toml.js';

/** The text of `pulse --help`: every flag with its environment variables, default and meaning. */
export function helpText(version: string): string {
  const lines = [
    `pulse ${version} - realtime pub/sub server (WebSocket, TCP, MQTT)`,
    '',
    'Usage: pulse [flags]',
    '       pulse passwd [--password PASSWORD]   print the scrypt hash of a password (read from stdin)',
    '',
    `Settings come from, later wins: built-in defaults < ${DEFAULT_CONFIG_FILE} (or --config FILE)`,
    '< environment variables < flags. Flags take --flag VALUE or --flag=VALUE; a boolean',
    'flag alone means true. Each flag --<section>-<key> is the TOML key [section] key and',
    'the variable PULSE_<SECTION>_<KEY>. See docs/CONFIGURATION.md.',
    '',
    'General:',
    ...entry(
      [`--${CONFIG_FLAG} FILE`],
      `TOML config file (default: ${DEFAULT_CONFIG_FILE} in the working directory, if present; else the seed broker's ${SEED_CONFIG_FILE} there or next to the pulse command)`,
      `env: ${CONFIG_ENV}`,
    ),
    ...entry(['-h, --help'], 'show this help and exit'),
    ...entry(['-V, -v, --version'], 'print the version and exit'),
  ];
  for (const section of SECTIONS) {
    lines.push('', `[${section}]`);
    for (const k of KEYS.filter((key) => key.section === section)) {
      const flags = `${k.flags.map((f) => `--${f}`).join(', ')} ${k.spec.metavar}`;
      lines.push(
        ...entry([flags], k.spec.help, `default: ${showSetting(k.spec.default)}   env: ${k.envs.join(', ')}`),
      );
    }
  }
  lines.push(
    '',
    `In the config file only (arrays of tables): ${TABLE_ARRAYS.map((t) => `[[${t.path}]]`).join(', ')}`,
  );
  lines.push('', 'Compatibility aliases (MQTT broker seed):');
  for (const a of COMPOUND_ALIASES)
    lines.push(...entry([`--${a.flag} ${a.metavar}`], a.help, `env: ${a.env}`));
  for (const i of IGNORED_SEED_NAMES) {
    lines.push(...entry([`--${i.flag} ${i.metavar}`], `ignored, with a warning: ${i.why}`, `env: ${i.env}`));
  }
  return `${lines.join('\n')}\n`;
}

function entry(heads: string[], ...details: string[]): string[] {
  return [...heads.map((h) => `  ${h}`), ...details.map((d) => `      ${d}`)];
}
