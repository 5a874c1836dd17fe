// scripts/system-packages.mjs: what `npm test` checks before any test runs.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { run } from './mqtt-helpers.js';

const script = fileURLToPath(new URL('../../../../scripts/system-packages.mjs', import.meta.url));

interface SystemPackages {
  missingPackages(dirs?: string[]): string[];
  ensureSystemPackages(options?: { dirs?: string[]; isRoot?: boolean }): string | undefined;
}
const load = async () => (await import(pathToFileURL(script).href)) as SystemPackages;

test('not as root, missing packages stop the run with one line naming them and the apt-get command', async () => {
  const { ensureSystemPackages } = await load();
  const empty = mkdtempSync(join(tmpdir(), 'pulse-no-programs-'));
  try {
    assert.equal(
      ensureSystemPackages({ dirs: [empty], isRoot: false }),
      'the tests need Debian packages that are not installed: chromium, mosquitto-clients, mosquitto, nats-server, openssl, redis-server; as root, run: apt-get update && apt-get install -y chromium mosquitto-clients mosquitto nats-server openssl redis-server',
    );
    // Only what is missing is named.
    for (const program of ['chromium', 'mosquitto_pub', 'nats-server', 'openssl', 'redis-server'])
      writeFileSync(join(empty, program), '');
    assert.match(ensureSystemPackages({ dirs: [empty], isRoot: false }) ?? '', /not installed: mosquitto;/);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});

test('on this machine every package the suite drives is installed', async () => {
  const { missingPackages } = await load();
  assert.deepEqual(missingPackages(), []);
});

test('a test that runs a program that is not installed fails at once, naming it', () => {
  const started = performance.now();
  assert.throws(() => run('/nonexistent/bin/mosquitto_pub', ['-t', 'x']), {
    message:
      '/nonexistent/bin/mosquitto_pub is not installed (its Debian package: see scripts/system-packages.mjs)',
  });
  assert.ok(performance.now() - started < 1000);
});
