// The `pulse` command run as a command (its first lines, not `node bin/pulse.js`), through a
// symbolic link as npm links a package's bin, and with an `env` that has no `-S` (BusyBox's, the
// /usr/bin/env of Alpine images).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { VERSION } from '../src/version.js';

const BIN = fileURLToPath(new URL('../../bin/pulse.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'pulse-command-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Prints the node flags of the process it is preloaded into, for the test to read. */
const PRELOAD = join(dir, 'exec-argv.cjs');
writeFileSync(PRELOAD, "process.stderr.write('execArgv ' + JSON.stringify(process.execArgv) + '\\n');\n");

function execArgvOf(stderr: string): string[] | undefined {
  const line = stderr.split('\n').find((l) => l.startsWith('execArgv '));
  return line === undefined ? undefined : (JSON.parse(line.slice('execArgv '.length)) as string[]);
}

test('through a bin link: the command starts node with --max-semi-space-size=8 and passes its arguments', () => {
  const link = join(dir, 'pulse');
  symlinkSync(BIN, link);
  const p = spawnSync(link, ['--version'], {
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: `--require ${PRELOAD}` },
  });
  assert.equal(p.status, 0, p.stderr);
  assert.equal(p.stdout.trim(), `pulse ${VERSION}`);
  assert.ok(execArgvOf(p.stderr)?.includes('--max-semi-space-size=8'), p.stderr);
});

/** Whether this process may make a mount namespace (root, with unshare). */
function canUnshare(): boolean {
  return spawnSync('unshare', ['-m', 'true']).status === 0;
}

test(
  'with an env that has no -S (BusyBox): the command still starts, with its flag',
  { skip: canUnshare() ? false : 'needs unshare -m (root) to put another /usr/bin/env in place' },
  () => {
    // BusyBox env: "env: invalid option -- 'S'" for -S, otherwise the real env (a copy of it).
    const realEnv = join(dir, 'env.real');
    copyFileSync('/usr/bin/env', realEnv);
    const busyboxEnv = join(dir, 'env');
    writeFileSync(
      busyboxEnv,
      `#!/bin/sh\ncase "$1" in -S*) echo "env: invalid option -- 'S'" >&2; exit 1;; esac\nexec ${realEnv} "$@"\n`,
    );
    chmodSync(busyboxEnv, 0o755);
    const p = spawnSync(
      'unshare',
      ['-m', 'sh', '-c', 'mount --bind "$1" /usr/bin/env && exec "$2" --version', 'sh', busyboxEnv, BIN],
      { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: `--require ${PRELOAD}` } },
    );
    assert.equal(p.status, 0, p.stderr);
    assert.equal(p.stdout.trim(), `pulse ${VERSION}`);
    assert.ok(execArgvOf(p.stderr)?.includes('--max-semi-space-size=8'), p.stderr);
  },
);
