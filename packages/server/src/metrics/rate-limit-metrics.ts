import { Counter, type Registry } from 'prom-client';
import { RATE_LIMITED_PROTOCOLS, RATE_LIMITS, type RateLimitStats } from '../limits/rate-limit-stats.js';
import { mirror } from './mqtt-metrics.js';

/** The per-connection rate limits' metrics (limits.messages_per_second, limits.bytes_per_second). */
export function registerRateLimitMetrics(
  registry: Registry,
  stats: RateLimitStats,
  seen: Map<string, number>,
): void {
  const registers = [registry];
  new Counter({
    name: 'pulse_rate_limited_total',
    help: 'Messages refused (MQTT QoS 0: dropped) for a per-connection rate limit, by protocol and limit',
    labelNames: ['protocol', 'limit'],
    registers,
    collect() {
      for (const protocol of RATE_LIMITED_PROTOCOLS) {
        for (const limit of RATE_LIMITS)
          mirror(this, { protocol, limit }, stats.limited[protocol][limit], seen);
      }
    },
  });
  new Counter({
    name: 'pulse_rate_limit_disconnects_total',
    help: 'Connections closed for going over a per-connection rate limit, by protocol',
    labelNames: ['protocol'],
    registers,
    collect() {
      for (const protocol of RATE_LIMITED_PROTOCOLS)
        mirror(this, { protocol }, stats.disconnects[protocol], seen);
    },
  });
}
