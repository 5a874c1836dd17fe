import assert from 'node:assert/strict';
import { sleep } from '../helpers.js';
import type { AttackRecorder } from './attack-socket.js';
import { Bystanders } from './bystanders.js';
import { FUZZ_SECONDS, FUZZ_SEED, type Rng, replayHint, workerRng } from './fuzz-settings.js';
import { type Target, startTarget } from './pulse-target.js';

/** How much the server's RSS may grow over its quiet baseline while under attack. */
export const RSS_BOUND_BYTES = 200 * 1024 * 1024;

/** What one attacking worker gets. */
export interface Attacker {
  target: Target;
  rng: Rng;
  recorder: AttackRecorder;
  /** Date.now() time at which to stop. */
  deadline: number;
  /** Time left and a server to attack. */
  active(): boolean;
  worker: number;
}

export interface AttackPlan {
  /** The test file's name (for the replay line). */
  file: string;
  /** Workers attacking at once, each with its own generator. */
  workers: number;
  attack(a: Attacker): Promise<void>;
  /** Extra workers with a job of their own (a memory hoarder, a dribbler). */
  extras?: ((a: Attacker) => Promise<void>)[];
}

const MiB = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
const hex = (b: Uint8Array) => {
  const s = Buffer.from(b.subarray(0, 96)).toString('hex');
  return b.length > 96 ? `${s}… (${b.length} bytes)` : s;
};

/**
 * Runs one seeded attack against a fresh server, with bystanders talking all along, and fails
 * with everything needed to reproduce: the seed, the latest inputs, the server's output.
 */
export async function runAttack(plan: AttackPlan): Promise<void> {
  const target = await startTarget();
  const recent: string[] = [];
  const leaks: string[] = [];
  const attackErrors: string[] = [];
  const recorder: AttackRecorder = {
    input(what, bytes) {
      recent.push(bytes ? `${what}: ${hex(bytes)}` : what);
      if (recent.length > 12) recent.shift();
    },
    leak(where, context) {
      if (leaks.length < 5)
        leaks.push(`${where} received a bystander's payload: …${context.toString('latin1')}…`);
    },
  };
  let bystanders: Bystanders | undefined;
  try {
    bystanders = await Bystanders.start(target);
    await sleep(1000);
    const rssQuiet = target.rss();
    let rssPeak = rssQuiet;
    const sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, target.rss());
    }, 50);
    bystanders.enter('attack');
    const deadline = Date.now() + FUZZ_SECONDS * 1000;
    const jobs = [...Array.from({ length: plan.workers }, () => plan.attack), ...(plan.extras ?? [])].map(
      (job, worker) =>
        job({
          target,
          rng: workerRng(plan.file, worker),
          recorder,
          deadline,
          worker,
          active: () => Date.now() < deadline && target.alive(),
        }).catch((err) => {
          // A socket refused or reset is the server's doing (and shows elsewhere); anything else is the test's.
          if (!(err as NodeJS.ErrnoException).code)
            attackErrors.push(`worker ${worker}: ${(err as Error).stack ?? err}`);
        }),
    );
    await Promise.all(jobs);
    bystanders.enter('after');
    await sleep(300);
    clearInterval(sampler);
    rssPeak = Math.max(rssPeak, target.rss());
    const status = await target.health();
    await bystanders.stop();

    const problems = [
      ...(target.alive() ? [] : ['the server process exited']),
      ...(status === 200 || !target.alive() ? [] : [`GET /health answered ${status || 'nothing'}`]),
      ...leaks,
      ...bystanders.problems(),
      ...(rssPeak - rssQuiet > RSS_BOUND_BYTES
        ? [`server RSS grew from ${MiB(rssQuiet)} to ${MiB(rssPeak)} (bound: +${MiB(RSS_BOUND_BYTES)})`]
        : []),
      ...attackErrors.map((e) => `the attack itself failed (a test bug): ${e}`),
    ];
    const report = [
      `${plan.file}: seed ${FUZZ_SEED}, ${FUZZ_SECONDS} s`,
      ...problems.map((p) => `- ${p}`),
      bystanders.summary(),
      `RSS quiet ${MiB(rssQuiet)}, peak ${MiB(rssPeak)}`,
      'latest inputs:',
      ...recent.map((r) => `  ${r}`),
      ...(target.alive() ? [] : ['server output (tail):', target.process.output().slice(-3000)]),
      replayHint(plan.file),
    ].join('\n');
    assert.equal(problems.length, 0, report);
  } finally {
    await bystanders?.stop(0).catch(() => {});
    await target.stop();
  }
}
