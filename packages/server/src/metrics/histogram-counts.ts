/**
 * A histogram's numbers kept without prom-client: what the hot path observes before (and after)
 * the first scrape makes the registry. `counts[i]` is the observations in bucket `bounds[i]`
 * alone (`value <= bounds[i]` and above the bound before); the scrape adds them up.
 */
export class HistogramCounts {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(value: number): void {
    this.sum += value;
    this.count++;
    const { bounds } = this;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= (bounds[i] as number)) {
        this.counts[i] = (this.counts[i] ?? 0) + 1;
        return;
      }
    }
  }
}
