import type { Metric, MetricValueWithName, Registry } from 'prom-client';
import type { HistogramCounts } from './histogram-counts.js';

/**
 * A histogram whose numbers live in `counts` (observed by the hot path since start-up, before
 * the registry existed): a metric object of prom-client's shape, exported as its Histogram is
 * (`_bucket{le}` cumulative, `+Inf`, `_sum`, `_count`; summed across workers).
 */
export function registerMirroredHistogram(
  registry: Registry,
  name: string,
  help: string,
  counts: HistogramCounts,
): void {
  const bucket = `${name}_bucket`;
  const metric = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    get: async () => {
      const values: MetricValueWithName<string>[] = [];
      let total = 0;
      counts.bounds.forEach((le, i) => {
        total += counts.counts[i] as number;
        values.push({ labels: { le }, value: total, metricName: bucket });
      });
      values.push(
        { labels: { le: '+Inf' }, value: counts.count, metricName: bucket },
        { labels: {}, value: counts.sum, metricName: `${name}_sum` },
        { labels: {}, value: counts.count, metricName: `${name}_count` },
      );
      return { name, help, type: 'histogram', values, aggregator: 'sum' };
    },
    // Registry.resetMetrics: the counts are the server's, not the registry's.
    reset: () => {},
  };
  registry.registerMetric(metric as unknown as Metric);
}
