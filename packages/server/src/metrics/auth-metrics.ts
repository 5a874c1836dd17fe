import { Counter, type Registry } from 'prom-client';
import type { AuthStats } from '../auth/auth-stats.js';
import { mirror } from './mqtt-metrics.js';

/** Authentication and authorization metrics (`pulse_auth_*`), in the same registry as the rest. */
export function registerAuthMetrics(registry: Registry, stats: AuthStats): void {
  const seen = new Map<string, number>();
  const counter = (name: string, help: string, labels: string[], counts: Map<string, number>) =>
    new Counter({
      name,
      help,
      labelNames: labels,
      registers: [registry],
      collect() {
        for (const [key, n] of counts) {
          const values = key.split('|');
          mirror(this, Object.fromEntries(labels.map((label, i) => [label, values[i] ?? ''])), n, seen);
        }
      },
    });
  counter(
    'pulse_auth_failures_total',
    'Failed authentications, by protocol and reason (no_token, expired, bad_signature, bad_password, ...)',
    ['protocol', 'reason'],
    stats.failures,
  );
  counter(
    'pulse_auth_successes_total',
    'Successful authentications, by protocol',
    ['protocol'],
    stats.successes,
  );
  counter(
    'pulse_auth_denied_total',
    'Subscribes and publishes refused by the allowlist, the ACL or a hook, by protocol and action',
    ['protocol', 'action'],
    stats.denied,
  );
  counter(
    'pulse_auth_hook_failures_total',
    'Auth hooks that did not answer (timeout, status, bad_response, network, error): the request was refused',
    ['hook', 'reason'],
    stats.hookFailures,
  );
  counter('pulse_auth_hook_requests_total', 'Auth hook requests made, by hook', ['hook'], stats.hookCalls);
  counter(
    'pulse_auth_hook_cache_hits_total',
    'Subscribe/publish hook answers taken from the cache, by hook',
    ['hook'],
    stats.hookCacheHits,
  );
}
