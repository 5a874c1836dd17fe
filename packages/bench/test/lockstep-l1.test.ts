import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseBenchArgs } from '../src/args.js';
import { type L1Steps, runL1 } from '../src/lockstep-l1.js';
import type { L1Target } from '../src/lockstep-targets.js';
import type { LockstepRun } from '../src/scenarios/lockstep.js';
import { ServerProcess } from '../src/targets/server-process.js';

// runL1's bookkeeping with real child processes as the servers (idle node processes) and the
// timed runs replaced: no benchmark load runs here.

const dir = mkdtempSync(join(tmpdir(), 'bench-l1-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const options = (() => {
  const o = parseBenchArgs(['--only', 'l1']);
  assert.ok(o !== 'help');
  return o;
})();
const opts = { count: 10, payloadSize: 16, qosLevels: [0, 1] as (0 | 1)[], reps: 2 };

let n = 0;
/** An idle node process; with `emptyDataDir`, one whose stop() throws (it "stored nothing"). */
function idleServer(emptyDataDir = false): Promise<ServerProcess> {
  const id = ++n;
  return ServerProcess.start({
    label: `idle ${id}`,
    command: process.execPath,
    args: ['-e', 'setInterval(() => {}, 1000)'],
    logFile: join(dir, `idle-${id}.log`),
    dataDir: emptyDataDir ? mkdtempSync(join(dir, `data-${id}-`)) : null,
    ready: async () => true,
  });
}

const fakeRun = (qos: 0 | 1 | 2) => ({ qos }) as LockstepRun;

const l1 = (targets: L1Target[], steps: L1Steps) =>
  runL1(targets, options, opts, dir, { server: null, generator: null }, () => {}, steps);

describe('l1 with every target up at once', () => {
  it("keeps the other targets' results and stops every server when one server's stop fails", async () => {
    const servers = new Map<L1Target, ServerProcess>();
    const order: string[] = [];
    const steps: L1Steps = {
      async launch(target) {
        if (target === 'pulse-sqlite-balanced') throw new Error('no such server');
        const server = await idleServer(target === 'pulse');
        servers.set(target, server);
        return { server, port: 1 };
      },
      async warm() {},
      async once(ctx, _o, qos, rep) {
        order.push(`${qos}/${rep}/${ctx.port}/${ctx.server.label}`);
        return fakeRun(qos);
      },
    };
    const out = await l1(['pulse', 'pulse-sqlite-balanced', 'mosquitto-persist'], steps);
    for (const [target, server] of servers) assert.equal(server.alive, false, `${target}'s server stopped`);
    assert.deepEqual(out['pulse-sqlite-balanced'], { ok: false, error: 'no such server' });
    const pulse = out.pulse;
    assert.ok(pulse && !pulse.ok, 'the lane whose stop failed is a failure');
    assert.match(pulse.error, /stored nothing/);
    const mosquitto = out['mosquitto-persist'];
    assert.ok(mosquitto?.ok, JSON.stringify(mosquitto));
    assert.deepEqual(
      mosquitto.value.runs.map((r) => r.qos),
      [0, 0, 1, 1],
    );
    // In turns: QoS, then run, then target.
    const [a, b] = [servers.get('pulse')!.label, servers.get('mosquitto-persist')!.label];
    assert.deepEqual(order, [
      `0/0/1/${a}`,
      `0/0/1/${b}`,
      `0/1/1/${a}`,
      `0/1/1/${b}`,
      `1/0/1/${a}`,
      `1/0/1/${b}`,
      `1/1/1/${a}`,
      `1/1/1/${b}`,
    ]);
  });

  it("stops a failed target's server before the other targets' next runs", async () => {
    const servers = new Map<L1Target, ServerProcess>();
    const failedAliveDuring: boolean[] = [];
    const steps: L1Steps = {
      async launch(target) {
        const server = await idleServer();
        servers.set(target, server);
        return { server, port: 1 };
      },
      async warm() {},
      async once(ctx, _o, qos) {
        const failing = servers.get('pulse')!;
        if (ctx.server === failing) throw new Error('the run timed out');
        failedAliveDuring.push(failing.alive);
        return fakeRun(qos);
      },
    };
    const out = await l1(['pulse', 'mosquitto-persist'], steps);
    assert.deepEqual(out.pulse, { ok: false, error: 'the run timed out' });
    assert.ok(out['mosquitto-persist']?.ok);
    assert.equal(failedAliveDuring.length, 4);
    assert.deepEqual(
      failedAliveDuring,
      [false, false, false, false],
      'the failed server was stopped at once',
    );
    for (const [target, server] of servers) assert.equal(server.alive, false, `${target}'s server stopped`);
  });
});
