import type { InputBudget } from '@pulse/protocol';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { TransportName, TransportStats } from '../transport/transport-stats.js';
import { mirror } from './mqtt-metrics.js';

/** Bounds on what clients send before and while being let in (docs/SECURITY.md, "Bounds on client input"). */
export function registerInputMetrics(
  registry: Registry,
  transports: Record<TransportName, TransportStats>,
  budget: InputBudget,
  seen: Map<string, number>,
): void {
  new Gauge({
    name: 'pulse_pending_input_bytes',
    help: 'Bytes of client input held: unfinished frames and packets, fragmented WebSocket messages, requests waiting for an authorization (limits.max_pending_input_bytes)',
    registers: [registry],
    collect() {
      this.set(budget.held);
    },
  });
  new Counter({
    name: 'pulse_pending_input_refusals_total',
    help: 'Connections closed because holding their input would pass limits.max_pending_input_bytes',
    registers: [registry],
    collect() {
      mirror(this, {}, budget.refusals, seen);
    },
  });
  new Counter({
    name: 'pulse_handshake_timeouts_total',
    help: 'Connections closed for not finishing their handshake (MQTT CONNECT, native/JSON authentication) by limits.handshake_timeout_ms, by transport',
    labelNames: ['transport'],
    registers: [registry],
    collect() {
      for (const [transport, stats] of Object.entries(transports)) {
        this.inc({ transport }, 0);
        mirror(this, { transport }, stats.handshakeTimeouts, seen);
      }
    },
  });
}
