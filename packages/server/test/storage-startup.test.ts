import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { spawnPulse } from './pulse-process.js';

const cli = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'pulse-startup-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const OFF = ['--port', '0', '--tcp-port', '0', '--metrics-port', '0', '--mqtt-port', '0'];

/** Runs the CLI, which must stop by itself: the store cannot open. */
function start(args: string[]) {
  return spawnSync(process.execPath, [cli, ...OFF, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '' },
    timeout: 10_000,
  });
}

function assertOneLineError(result: ReturnType<typeof start>, pattern: RegExp): void {
  assert.equal(result.status, 1, result.stderr);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, result.stderr);
  assert.match(at(lines, 0), /^pulse: storage: /);
  assert.match(at(lines, 0), pattern);
}

test('a database another pulse holds is refused with one line: locked', async () => {
  const file = join(dir, 'held.db');
  const first = spawnPulse([...OFF, '--sqlite', file]);
  try {
    await first.ready;
    assertOneLineError(start(['--sqlite', file]), /held\.db.*locked/);
  } finally {
    await first.kill();
  }
});

test('a file that is not a database is refused, never replaced by an empty store', () => {
  const file = join(dir, 'garbage.db');
  writeFileSync(file, 'this is not a database, and it is long enough to look like a header '.repeat(100));
  assertOneLineError(start(['--sqlite', file]), /garbage\.db/);
  assertOneLineError(start(['--storage-engine', 'sqlite', '--storage-path', file]), /garbage\.db/);
});

test('a path that cannot be created is refused with one line', () => {
  const notADir = join(dir, 'plain-file');
  writeFileSync(notADir, 'x');
  assertOneLineError(start(['--sqlite', join(notADir, 'pulse.db')]), /plain-file/);
});

test('a path under a directory that cannot hold one (procfs) is one line, not a hang', () => {
  assertOneLineError(
    start(['--sqlite', '/proc/nope/pulse.db']),
    /"\/proc\/nope\/pulse\.db".*cannot create directory.*ENOENT/,
  );
});

test('a symbolic link to nothing where the directory goes, and a path longer than the system takes, are one short line each', () => {
  symlinkSync(join(dir, 'nothing'), join(dir, 'dangling'));
  assertOneLineError(
    start(['--sqlite', join(dir, 'dangling', 'pulse.db')]),
    /cannot create directory ".*dangling" \(ENOENT\)$/,
  );
  // 100 KB of levels (a command line takes 128 KB): the line names the path cut short, once.
  const long = join(dir, 'long', `${'a/'.repeat(50_000)}pulse.db`);
  const result = start(['--sqlite', long]);
  assertOneLineError(result, /\(\d+ characters\): cannot create directory .*\(ENAMETOOLONG\)$/);
  assert.ok(result.stderr.length < 800, `${result.stderr.length} characters`);
  assert.equal(existsSync(join(dir, 'long')), false, 'nothing left made');
});

test('a good database starts, and the wal engine maps to SQLite in wal_dir', async () => {
  const wal = spawnPulse([...OFF, '--storage-engine', 'wal', '--wal-dir', join(dir, 'wal')]);
  try {
    await wal.ready;
    assert.match(wal.output(), /storage\.engine = wal is SQLite in WAL mode/);
    assert.match(wal.output(), /"engine":"sqlite"/);
  } finally {
    await wal.kill();
  }
});
