import type { Worker } from 'node:cluster';
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';
import type { MetricsMessage } from './messages.js';

/** How long a scrape waits for the workers; one that has not answered by then is left out. */
export const WORKER_METRICS_TIMEOUT_MS = 2000;

/** What the primary's own metrics read from the pool. */
export interface PoolView {
  readonly configured: number;
  /** The workers listening now: the ones asked for their metrics. */
  ready(): readonly Worker[];
  /** Restarts by worker name (`w1`, ...). */
  readonly restarts: ReadonlyMap<string, number>;
}

type Answer = NonNullable<MetricsMessage['metrics']>;

interface Scrape {
  waiting: Set<number>;
  answers: Answer[];
  done: () => void;
}

/**
 * `/metrics` of the primary: every worker's registry, asked over IPC and summed series by
 * series (prom-client's AggregatorRegistry: `sum` unless a metric names another aggregator),
 * plus the primary's `pulse_workers*`. Scrapes that come while one is collecting share it.
 */
export class WorkerMetrics {
  private readonly own = new Registry();
  private readonly scrapes = new Map<number, Scrape>();
  private nextId = 0;
  private collecting: Promise<string> | undefined;
  private answered = 0;

  constructor(
    private readonly pool: PoolView,
    private readonly timeoutMs = WORKER_METRICS_TIMEOUT_MS,
  ) {
    const registers = [this.own];
    const answered = () => this.answered;
    new Gauge({
      name: 'pulse_workers',
      help: 'Worker processes configured (server.workers)',
      registers,
      collect() {
        this.set(pool.configured);
      },
    });
    new Gauge({
      name: 'pulse_workers_ready',
      help: 'Worker processes listening now',
      registers,
      collect() {
        this.set(pool.ready().length);
      },
    });
    new Gauge({
      name: 'pulse_workers_scraped',
      help: 'Workers whose metrics are summed in this answer (the others did not answer in time)',
      registers,
      collect() {
        this.set(answered());
      },
    });
    new Counter({
      name: 'pulse_workers_restarts_total',
      help: 'Workers restarted after an exit the primary did not ask for, by worker',
      labelNames: ['worker'],
      registers,
      collect() {
        this.reset();
        for (const [worker, n] of pool.restarts) this.inc({ worker }, n);
      },
    });
  }

  get contentType(): string {
    return this.own.contentType;
  }

  /** The text of one scrape. */
  render(): Promise<string> {
    this.collecting ??= this.collect().finally(() => {
      this.collecting = undefined;
    });
    return this.collecting;
  }

  /** A worker's answer (`pulse:metrics`). */
  accept(workerId: number, message: MetricsMessage): void {
    const scrape = this.scrapes.get(message.id);
    if (!scrape?.waiting.delete(workerId)) return;
    if (message.metrics !== null) scrape.answers.push(message.metrics);
    if (scrape.waiting.size === 0) scrape.done();
  }

  /** A worker exited: the scrapes in progress stop waiting for it. */
  forget(workerId: number): void {
    for (const scrape of this.scrapes.values()) {
      if (scrape.waiting.delete(workerId) && scrape.waiting.size === 0) scrape.done();
    }
  }

  private async collect(): Promise<string> {
    const id = this.nextId++;
    const workers = this.pool.ready();
    const scrape: Scrape = { waiting: new Set(workers.map((w) => w.id)), answers: [], done: () => {} };
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.timeoutMs);
      scrape.done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.scrapes.set(id, scrape);
      for (const worker of workers) {
        worker.send({ type: 'pulse:metrics?', id }, undefined, {}, (err) => {
          if (err) this.forgetIn(scrape, worker.id);
        });
      }
      if (scrape.waiting.size === 0) scrape.done();
    });
    this.scrapes.delete(id);
    this.answered = scrape.answers.length;
    const merged = Registry.merge([AggregatorRegistry.aggregate(scrape.answers), this.own]);
    return merged.metrics();
  }

  private forgetIn(scrape: Scrape, workerId: number): void {
    if (scrape.waiting.delete(workerId) && scrape.waiting.size === 0) scrape.done();
  }
}
