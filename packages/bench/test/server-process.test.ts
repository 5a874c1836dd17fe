import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { childPids, ServerProcess, sleep } from '../src/targets/server-process.js';

// A parent that idles and forks one child that spins: as `pulse --workers N`, the work is the child's.
// The child spins in slices so that it sees the parent go (IPC disconnect) and exits.
const PARENT = `
const { fork } = require('node:child_process');
if (process.argv[2] === 'child') {
  process.on('disconnect', () => process.exit(0));
  const spin = () => { const t = Date.now(); while (Date.now() - t < 10) {} setImmediate(spin); };
  spin();
} else {
  fork(__filename, ['child'], { stdio: 'ignore' });
  setInterval(() => {}, 1000);
}
`;

describe('ServerProcess CPU with children', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-server-process-'));
  const script = join(dir, 'parent.cjs');
  writeFileSync(script, PARENT);
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("counts a forked child's CPU only when asked", async () => {
    const start = (withChildren: boolean) =>
      ServerProcess.start({
        label: `spinner ${withChildren}`,
        command: process.execPath,
        args: [script],
        logFile: join(dir, `${withChildren}.log`),
        withChildren,
        ready: async (pid) => childPids(pid).length === 1,
      });
    const [own, all] = await Promise.all([start(false), start(true)]);
    try {
      const before = [own.cpuMicros(), all.cpuMicros()];
      await sleep(600);
      const [ownUsed, allUsed] = [own.cpuMicros() - before[0]!, all.cpuMicros() - before[1]!];
      // Two spinning children share at most two cores: each gets well over 100 ms of 600.
      assert.ok(allUsed > 100_000, `with children: ${allUsed} µs`);
      assert.ok(ownUsed < 50_000, `parent alone: ${ownUsed} µs`);
    } finally {
      await Promise.all([own.stop(), all.stop()]);
    }
  });
});
