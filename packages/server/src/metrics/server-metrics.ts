import type { Registry } from 'prom-client';
import { HistogramCounts } from './histogram-counts.js';
import type { MetricSources, PushedMetrics } from './metric-sources.js';

const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const COMMIT_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1];

/**
 * The server's metrics: the numbers it pushes, counted here from start-up, and the Prometheus
 * registry, made at the first scrape. prom-client and the registry's hundred metric objects
 * are a few MiB of a fresh server's memory (docs/ARCHITECTURE.md, "What a server loads"); a
 * server that is never scraped (metrics listener off, or nobody asking) never loads them.
 * Every metric has the same value as if the registry had been there from the start, except
 * prom-client's own observations of the process (GC durations, event-loop lag): those start
 * at the first scrape (the delay statistics with no sample until measured: event-loop-stats.ts).
 */
export class ServerMetrics {
  readonly pushed: PushedMetrics;
  private made: Promise<Registry> | undefined;

  constructor(private readonly sources: Omit<MetricSources, 'pushed'>) {
    const commitSeconds = new HistogramCounts(COMMIT_BUCKETS);
    this.pushed = {
      latency: new HistogramCounts(LATENCY_BUCKETS),
      commitSeconds,
      storage: { commits: 0, errors: 0, observe: (seconds) => commitSeconds.observe(seconds) },
      apiRequests: new Map(),
    };
  }

  readonly observeLatencyMs = (ms: number): void => this.pushed.latency.observe(ms / 1000);

  /** The registry, made (prom-client imported) at the first call. */
  registry(): Promise<Registry> {
    this.made ??= import('./metrics.js').then((m) =>
      m.createRegistry({ ...this.sources, pushed: this.pushed }),
    );
    return this.made;
  }
}
