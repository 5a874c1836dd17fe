import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { sleep } from '../helpers.js';
import type { AttackRecorder, AttackSocket } from './attack-socket.js';
import { BystanderThread } from './bystander-thread.js';
import { FUZZ_ONLY, FUZZ_SECONDS, FUZZ_SEED, type Rng, replayHint, workerRng } from './fuzz-settings.js';
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

/** Opens one attacking connection of a listener. */
export type Opener = (a: Attacker, label: string) => Promise<AttackSocket>;

export interface AttackPlan {
  /** The test file's name (for the replay line). */
  file: string;
  /** Workers attacking at once, each with its own generator. */
  workers: number;
  attack(a: Attacker): Promise<void>;
  /** Extra workers with a job of their own (a memory hoarder, a dribbler), by name. */
  extras?: Record<string, (a: Attacker) => Promise<void>>;
  /** Bystander p99 latency the attack may add over the quiet phase (ms); 100 unless said. */
  addedLatencyMs?: number;
}

const MiB = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
const hex = (b: Uint8Array) => {
  const s = Buffer.from(b.subarray(0, 96)).toString('hex');
  return b.length > 96 ? `${s}… (${b.length} bytes)` : s;
};

/** The inputs sent while the slowest bystander message was on its way (named in `problems`). */
function slowestWindow(problems: string[], timeline: { at: number; what: string }[]): string[] {
  const slow = problems.map((p) => /sent at (\d+) and took (\d+) ms/.exec(p)).find((m) => m);
  if (!slow) return [];
  const from = Number(slow[1]) - 200;
  const to = Number(slow[1]) + Number(slow[2]);
  const during = timeline.filter((t) => t.at >= from && t.at <= to);
  return [
    `inputs from 200 ms before the slowest message until it arrived (${during.length}):`,
    ...during.slice(-40).map((t) => `  ${t.at} ${t.what}`),
  ];
}

/** Samples a process's RSS while an attack runs. */
class RssWatch {
  readonly quiet: number;
  peak: number;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly target: Target) {
    this.quiet = target.rss();
    this.peak = this.quiet;
    this.timer = setInterval(() => this.sample(), 50);
  }

  sample(): void {
    this.peak = Math.max(this.peak, this.target.rss());
  }

  stop(): string[] {
    clearInterval(this.timer);
    this.sample();
    return this.peak - this.quiet > RSS_BOUND_BYTES
      ? [`server RSS grew from ${MiB(this.quiet)} to ${MiB(this.peak)} (bound: +${MiB(RSS_BOUND_BYTES)})`]
      : [];
  }
}

/**
 * Runs one seeded attack against a fresh server, with bystanders talking all along, and fails
 * with everything needed to reproduce: the seed, the latest inputs, the server's output.
 * A second, unattacked server with bystanders of its own runs meanwhile: the latency its
 * bystanders see is the machine's load (shared by many), which the attacked server's are not
 * blamed for.
 */
export async function runAttack(plan: AttackPlan): Promise<void> {
  const [target, control] = await Promise.all([startTarget(), startTarget()]);
  const recent: string[] = [];
  const leaks: string[] = [];
  const attackErrors: string[] = [];
  const timeline: { at: number; what: string }[] = [];
  const recorder: AttackRecorder = {
    input(what, bytes) {
      if (timeline.length < 100_000) timeline.push({ at: Date.now(), what });
      recent.push(bytes ? `${what}: ${hex(bytes)}` : what);
      if (recent.length > 12) recent.shift();
    },
    leak(where, context) {
      if (leaks.length < 5)
        leaks.push(`${where} received a bystander's payload: …${context.toString('latin1')}…`);
    },
  };
  const threads: BystanderThread[] = [];
  try {
    const [bystanders, controlBystanders] = await Promise.all([
      BystanderThread.start(target),
      BystanderThread.start(control),
    ]);
    threads.push(bystanders, controlBystanders);
    await sleep(1000);
    const rss = new RssWatch(target);
    const lag = monitorEventLoopDelay({ resolution: 5 });
    lag.enable();
    for (const b of threads) b.enter('attack');
    const deadline = Date.now() + FUZZ_SECONDS * 1000;
    const jobs = [
      ...Array.from({ length: plan.workers }, () => plan.attack),
      ...Object.entries(plan.extras ?? {})
        .filter(([name]) => !FUZZ_ONLY || FUZZ_ONLY.test(name))
        .map(([, job]) => job),
    ].map((job, worker) =>
      job({
        target,
        rng: workerRng(plan.file, worker),
        recorder,
        deadline,
        worker,
        active: () => Date.now() < deadline && target.alive(),
      }).catch((err) => {
        // A socket refused or reset is the server's doing (and shows elsewhere); anything else is the test's.
        if (!/^E[A-Z]+$/.test((err as NodeJS.ErrnoException).code ?? ''))
          attackErrors.push(`worker ${worker}: ${(err as Error).stack ?? err}`);
      }),
    );
    await Promise.all(jobs);
    const attackMs = Date.now() - deadline + FUZZ_SECONDS * 1000;
    for (const b of threads) b.enter('after');
    await sleep(300);
    lag.disable();
    const rssProblems = rss.stop();
    const status = await target.health();
    const reference = await controlBystanders.stop();
    const verdict = await bystanders.stop(reference.p99, plan.addedLatencyMs);

    const problems = [
      ...(target.alive() ? [] : ['the server process exited']),
      ...(status === 200 || !target.alive() ? [] : [`GET /health answered ${status || 'nothing'}`]),
      ...leaks,
      ...verdict.problems,
      ...rssProblems,
      ...attackErrors.map((e) => `the attack itself failed (a test bug): ${e}`),
    ];
    const report = [
      `${plan.file}: seed ${FUZZ_SEED}, ${FUZZ_SECONDS} s (attacked for ${attackMs} ms), ${timeline.length} inputs`,
      ...problems.map((p) => `- ${p}`),
      verdict.summary,
      `unattacked server meanwhile: ${reference.summary}`,
      `RSS quiet ${MiB(rss.quiet)}, peak ${MiB(rss.peak)}; the test process's own event loop delay p99 ${(lag.percentile(99) / 1e6).toFixed(1)} ms, max ${(lag.max / 1e6).toFixed(1)} ms`,
      ...slowestWindow(verdict.problems, timeline),
      'latest inputs:',
      ...recent.map((r) => `  ${r}`),
      ...(target.alive() ? [] : ['server output (tail):', target.process.output().slice(-3000)]),
      replayHint(plan.file),
    ].join('\n');
    if (process.env.PULSE_FUZZ_VERBOSE) console.log(report);
    assert.equal(problems.length, 0, report);
  } finally {
    await Promise.all(threads.map((b) => b.stop().catch(() => {})));
    await Promise.all([target.stop(), control.stop()]);
  }
}
