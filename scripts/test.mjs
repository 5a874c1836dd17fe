// Runs every compiled test file of every workspace package with node's test runner.
// Usage: node scripts/test.mjs [substring filter]
import { spawnSync } from 'node:child_process';
import { readdirSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ensureSystemPackages } from './system-packages.mjs';

const filter = process.argv[2] ?? '';
// The whole suite stops at once without the programs it drives; a filtered run (a few files,
// maybe none of them needing those) only says so, and a test that needs one fails at once.
const problem = ensureSystemPackages();
if (problem) {
  console.error(`pulse tests: ${problem}`);
  if (filter === '') process.exit(1);
}

// The whole suite starts with the import-cycle check (scripts/check-cycles.mjs); the tests
// run either way, and a cycle fails the run at the end.
const cycles =
  filter === ''
    ? (spawnSync(process.execPath, ['scripts/check-cycles.mjs'], { stdio: 'inherit' }).status ?? 1)
    : 0;

// Tests that start the `pulse` command run the bundle, and `@pulse/client` resolves to the
// package's bundled entry points: both made afresh here, so that a run after a bare `tsc -b`
// does not test stale ones.
for (const [script, what] of [
  ['scripts/bundle-server.mjs', 'server bundle'],
  ['scripts/bundle-client.mjs', 'client package'],
]) {
  if (spawnSync(process.execPath, [script], { stdio: 'inherit' }).status !== 0) {
    console.error(`pulse tests: the ${what} did not build (${script})`);
    process.exit(1);
  }
}

const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (name.endsWith('.test.js') && path.includes(filter)) files.push(path);
  }
};
for (const pkg of readdirSync('packages')) {
  const dir = join('packages', pkg, 'dist', 'test');
  if (existsSync(dir)) walk(dir);
}
if (files.length === 0) {
  console.error('no test files found (did the build run?)');
  process.exit(1);
}
// The adversarial suite measures bystander latency: it runs after the rest, one file at a time,
// so that another test file competing for this machine's cores is not what it measures.
const isAdversarial = (path) => path.includes('/adversarial/');
const runFiles = (list, concurrency) =>
  list.length === 0
    ? 0
    : (spawnSync(
        process.execPath,
        [
          '--test',
          `--test-concurrency=${concurrency}`,
          '--test-timeout=60000',
          '--test-reporter=spec',
          ...list.sort(),
        ],
        { stdio: 'inherit' },
      ).status ?? 1);
const first = runFiles(
  files.filter((f) => !isAdversarial(f)),
  2,
);
const second = runFiles(files.filter(isAdversarial), 1);
if (cycles !== 0) console.error('pulse tests: import cycles found (listed before the tests)');
process.exit(first !== 0 ? first : second !== 0 ? second : cycles);
