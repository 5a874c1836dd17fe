/** Counters of the JSON protocol; copied into Prometheus at scrape time (metrics/json-metrics.ts). */
export class JsonStats {
  /** Requests by method; `unknown` for a method that does not exist, `invalid` when none could be read. */
  readonly requests = new Map<string, number>();
  /** Error replies by code (400, 401, ...). */
  readonly errors = new Map<number, number>();
  /** Pushes (publication, join, leave, update) queued for JSON subscribers. */
  pushesOut = 0;

  countRequest(method: string): void {
    this.requests.set(method, (this.requests.get(method) ?? 0) + 1);
  }

  countError(code: number): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }
}
