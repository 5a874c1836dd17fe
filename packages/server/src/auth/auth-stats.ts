/**
 * Counters of authentication and authorization, keyed by their labels joined with `|`;
 * copied into Prometheus at scrape time (metrics/auth-metrics.ts).
 */
export class AuthStats {
  /** `protocol|reason`: failed authentications (pulse_auth_failures_total). */
  readonly failures = new Map<string, number>();
  /** `protocol|action`: refused subscribes and publishes (pulse_auth_denied_total). */
  readonly denied = new Map<string, number>();
  /** `protocol`: successful authentications (pulse_auth_successes_total). */
  readonly successes = new Map<string, number>();
  /** `hook|reason`: hooks that could not answer (pulse_auth_hook_failures_total). */
  readonly hookFailures = new Map<string, number>();
  /** `hook`: hook requests made (pulse_auth_hook_requests_total). */
  readonly hookCalls = new Map<string, number>();
  /** `hook`: answers taken from the cache (pulse_auth_hook_cache_hits_total). */
  readonly hookCacheHits = new Map<string, number>();

  count(map: Map<string, number>, key: string): void {
    map.set(key, (map.get(key) ?? 0) + 1);
  }
}
