// The Debian packages the test suite drives, checked before any test runs (scripts/test.mjs)
// and by .ci/run. Missing ones are installed with apt-get when run as root; otherwise this
// stops at once with one line naming them. Usage: node scripts/system-packages.mjs
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Each package, with the program that shows it is installed. */
export const SYSTEM_PACKAGES = [
  { name: 'chromium', program: 'chromium', why: 'the client in a real browser' },
  { name: 'mosquitto-clients', program: 'mosquitto_pub', why: 'the C MQTT clients' },
  { name: 'mosquitto', program: 'mosquitto', why: 'a real Mosquitto broker bridged to Pulse' },
  { name: 'nats-server', program: 'nats-server', why: 'a real NATS server for the cluster engine' },
  { name: 'openssl', program: 'openssl', why: "the TLS tests' certificates" },
  { name: 'redis-server', program: 'redis-server', why: 'a real Redis server for the cluster engine' },
];

const PROGRAM_DIRS = [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/bin', '/usr/sbin'];

/** The names of the packages whose program is in none of `dirs`. */
export function missingPackages(dirs = PROGRAM_DIRS) {
  return SYSTEM_PACKAGES.filter((p) => !dirs.some((dir) => existsSync(join(dir, p.program)))).map(
    (p) => p.name,
  );
}

/**
 * Installs what is missing (as root) or returns the one line that says what to do; undefined
 * when all is there. `dirs` and `isRoot` are for tests.
 */
export function ensureSystemPackages({ dirs = PROGRAM_DIRS, isRoot = process.getuid?.() === 0 } = {}) {
  const missing = missingPackages(dirs);
  if (missing.length === 0) return undefined;
  const command = `apt-get update && apt-get install -y ${missing.join(' ')}`;
  if (!isRoot) {
    return `the tests need Debian packages that are not installed: ${missing.join(', ')}; as root, run: ${command}`;
  }
  console.error(`== apt-get install ${missing.join(' ')} (the tests drive them)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [
    ['update', '-qq'],
    ['install', '-y', '-qq', ...missing],
  ]) {
    const result = spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], env });
    if (result.status !== 0)
      return `apt-get ${args.join(' ')} failed (exit ${result.status ?? result.error?.message})`;
  }
  const still = missingPackages(dirs);
  return still.length === 0 ? undefined : `still missing after apt-get install: ${still.join(', ')}`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const problem = ensureSystemPackages();
  if (problem) {
    console.error(`pulse tests: ${problem}`);
    process.exit(1);
  }
}
