import type { Metric, MetricObjectWithValues, MetricValue, Registry } from 'prom-client';

const STATS = ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99'] as const;

type Read = () => Promise<MetricObjectWithValues<MetricValue<string>>>;

/**
 * prom-client's event-loop delay statistics (`<prefix>nodejs_eventloop_lag_<stat>_seconds`)
 * without a sample when its monitor measured nothing since the last scrape. The monitor starts
 * with the registry, at the first scrape, and Node records a delay only from its second tick
 * (100 ms each): prom-client would show that first scrape (and one right after any scrape) as a
 * minimum of 9.2e9 s (the empty histogram's), a mean and deviation of NaN.
 */
export function hideUnmeasuredEventLoopStats(registry: Registry, prefix: string): void {
  const metric = (stat: string) =>
    registry.getSingleMetric(`${prefix}nodejs_eventloop_lag_${stat}_seconds`) as Metric | undefined;
  const mean = metric('mean');
  if (mean === undefined) return;
  // Set by prom-client at each scrape from the histogram, before these are read: NaN when empty.
  const readMean = mean.get.bind(mean) as Read;
  const measured = async () => Number.isFinite((await readMean()).values[0]?.value);
  for (const stat of STATS) {
    const gauge = metric(stat);
    if (gauge === undefined) continue;
    const read = gauge.get.bind(gauge) as Read;
    Object.assign(gauge, {
      get: async () => {
        const value = await read();
        return (await measured()) ? value : { ...value, values: [] };
      },
    });
  }
}
