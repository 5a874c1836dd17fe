import { Counter, type Registry } from 'prom-client';
import type { JsonStats } from '../json/json-stats.js';
import { mirror } from './mqtt-metrics.js';

/** The JSON protocol's metrics (`pulse_json_*`), in the same registry as the rest. */
export function registerJsonMetrics(registry: Registry, stats: JsonStats, seen: Map<string, number>): void {
  const registers = [registry];
  new Counter({
    name: 'pulse_json_requests_total',
    help: 'JSON protocol requests received, by method (unknown: no such method; invalid: unreadable)',
    labelNames: ['method'],
    registers,
    collect() {
      for (const [method, n] of stats.requests) mirror(this, { method }, n, seen);
    },
  });
  new Counter({
    name: 'pulse_json_errors_total',
    help: 'JSON protocol error replies sent, by code',
    labelNames: ['code'],
    registers,
    collect() {
      for (const [code, n] of stats.errors) mirror(this, { code: String(code) }, n, seen);
    },
  });
  new Counter({
    name: 'pulse_json_pushes_total',
    help: 'JSON pushes (publication, join, leave, update) queued for subscribers',
    registers,
    collect() {
      mirror(this, {}, stats.pushesOut, seen);
    },
  });
}
