// Every key's check (config/kinds.ts, plain checks since zod left the default path) against
// values a config file, the environment or a flag may hold: one readable error line each, never
// a crash, never a value stored.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ConfigError, loadConfig } from '../src/config/index.js';
import { KEYS } from '../src/config/keys.js';

const root = mkdtempSync(join(tmpdir(), 'pulse-config-hostile-'));
after(() => rmSync(root, { recursive: true, force: true }));
/** A working directory without a pulse.toml. */
const empty = mkdtempSync(join(root, 'empty-'));

/** The one-line message loading throws, or a failure naming what was accepted. */
function errorOf(argv: string[], env: Record<string, string> = {}): string {
  let accepted: unknown;
  try {
    accepted = loadConfig(argv, env, empty, '0.0.0');
  } catch (err) {
    assert.ok(err instanceof ConfigError, `a ConfigError, not ${String(err)}`);
    assert.match(err.message, /^config error: /);
    assert.doesNotMatch(err.message, /[\r\n]/);
    return err.message;
  }
  return assert.fail(
    `accepted ${argv.join(' ')} ${JSON.stringify(env)}: ${JSON.stringify(accepted).slice(0, 200)}`,
  );
}

function fromToml(text: string): string {
  const file = join(root, 'pulse.toml');
  writeFileSync(file, text);
  return errorOf(['--config', file]);
}

const INTEGER_KEYS = KEYS.filter((k) => k.spec.expect.startsWith('an integer'));

test('integer keys: TOML floats, nan, inf, 2^53 + 1, strings, booleans, arrays and tables are refused as not an integer of the range', () => {
  assert.ok(INTEGER_KEYS.length > 50, `${INTEGER_KEYS.length} integer keys`);
  for (const k of INTEGER_KEYS) {
    for (const value of [
      '8080.0',
      '1.5',
      'nan',
      '-inf',
      'inf',
      '9007199254740993',
      '-1',
      '"5"',
      'true',
      '[5]',
      '{ a = 5 }',
    ]) {
      assert.equal(
        fromToml(`[${k.section}]\n${k.key} = ${value}\n`).split(', got ')[0],
        `config error: ${k.path} must be ${k.spec.expect}`,
        `${k.path} = ${value}`,
      );
    }
  }
});

test('integer keys from the environment and flags: only decimal digits, within the range', () => {
  for (const k of INTEGER_KEYS) {
    for (const text of ['NaN', 'Infinity', '1e3', '1.0', '-1', '99999999999999999999', '']) {
      assert.match(
        errorOf([], { [k.envs[0] as string]: text }),
        new RegExp(`^config error: ${k.path} must be `),
      );
      assert.match(errorOf([`--${k.flags[0]}=${text}`]), new RegExp(`^config error: ${k.path} must be `));
    }
  }
  assert.equal(
    errorOf(['--limits-max-outbound-bytes', '1.5']),
    'config error: limits.max_outbound_bytes must be an integer >= 1024, got "1.5" (from flag --limits-max-outbound-bytes)',
  );
});

test('every key: a TOML table or date is refused, never stored', () => {
  for (const k of KEYS) {
    for (const value of ['{ __proto__ = 1 }', '{ a = 1 }', '1979-05-27T07:32:00Z']) {
      // server.tls as a table is the seed's [server.tls] (config/seed-broker.ts): its own keys.
      const expected =
        k.path === 'server.tls' && value.startsWith('{')
          ? /^config error: unknown key "server\.tls\.(__proto__|a)"/
          : new RegExp(`^config error: ${k.path} must be `);
      assert.match(fromToml(`[${k.section}]\n${k.key} = ${value}\n`), expected);
    }
  }
});

test("the seed's [server.tls] table: __proto__, constructor and toString are unknown keys of it (they crashed the loader)", () => {
  for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
    for (const text of [`[server.tls]\n${name} = 1\n`, `[server]\ntls = { ${name} = 1 }\n`]) {
      assert.match(
        fromToml(text),
        new RegExp(
          `^config error: unknown key "server\\.tls\\.${name}" in .* \\(the seed's \\[server\\.tls\\] has enabled, `,
        ),
      );
    }
  }
});

test('__proto__, constructor and toString are unknown keys and sections, in TOML, the environment and flags', () => {
  for (const name of ['__proto__', 'constructor', 'toString']) {
    assert.match(fromToml(`${name} = 1\n`), /unknown key/);
    assert.match(fromToml(`[${name}]\nport = 1\n`), /unknown section/);
    assert.match(fromToml(`[server]\n${name} = 1\n`), new RegExp(`unknown key "server\\.${name}"`));
    assert.match(
      fromToml(`[[history]]\n${name} = 1\n`),
      new RegExp(`unknown key "history\\[0\\]\\.${name}"`),
    );
    assert.match(errorOf([], { [`PULSE_SERVER_${name.toUpperCase()}`]: '1' }), /unknown key/);
    assert.match(errorOf([`--${name}`, '1']), /unknown flag/);
  }
});
