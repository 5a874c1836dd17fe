import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { pinProcess } from '../targets/server-process.js';
import type { Reply, Report, Request, Totals } from './protocol.js';

const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url));

/** The load generator: `size` forked processes, each holding a share of the connections. */
export class GeneratorPool {
  private readonly workers: ChildProcess[] = [];
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 1;

  /** `cpus`: pin every generator process to these CPUs (taskset list), or null. */
  constructor(
    readonly size: number,
    cpus: string | null = null,
  ) {
    for (let i = 0; i < size; i++) {
      const child = fork(WORKER, [], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        serialization: 'advanced',
        // e.g. PULSE_BENCH_WORKER_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the generator
        execArgv: (process.env.PULSE_BENCH_WORKER_ARGS ?? '').split(' ').filter(Boolean),
      });
      child.on('message', (reply: Reply) => {
        const waiter = this.pending.get(reply.id);
        if (!waiter) return;
        this.pending.delete(reply.id);
        if (reply.ok) waiter.resolve(reply.result);
        else waiter.reject(new Error(reply.error));
      });
      child.on('exit', (code, signal) => {
        for (const [id, waiter] of this.pending) {
          waiter.reject(new Error(`generator process ${i} exited (${signal ?? code})`));
          this.pending.delete(id);
        }
      });
      if (cpus) pinProcess(child.pid!, cpus);
      this.workers.push(child);
    }
  }

  get pids(): number[] {
    return this.workers.map((w) => w.pid!);
  }

  request<T>(worker: number, req: Request): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const target = this.workers[worker];
      if (target === undefined)
        throw new RangeError(`no worker ${worker} in a pool of ${this.workers.length}`);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      target.send({ id, req });
    });
  }

  all<T>(req: Request): Promise<T[]> {
    return Promise.all(this.workers.map((_, i) => this.request<T>(i, req)));
  }

  mark(): Promise<unknown[]> {
    return this.all({ op: 'mark' });
  }

  reports(): Promise<Report[]> {
    return this.all<Report>({ op: 'report' });
  }

  async totals(): Promise<Totals> {
    const all = await this.all<Totals>({ op: 'totals' });
    return all.reduce(
      (sum, t) => ({
        delivered: sum.delivered + t.delivered,
        sent: sum.sent + t.sent,
        closed: sum.closed + t.closed,
        stalls: sum.stalls + t.stalls,
        acked: sum.acked + t.acked,
        anomalies: sum.anomalies + t.anomalies,
      }),
      { delivered: 0, sent: 0, closed: 0, stalls: 0, acked: 0, anomalies: 0 },
    );
  }

  async close(): Promise<void> {
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.exitCode !== null || w.signalCode !== null) return resolve();
            w.once('exit', () => resolve());
            w.disconnect();
            setTimeout(() => w.kill('SIGKILL'), 3000).unref();
          }),
      ),
    );
  }
}
