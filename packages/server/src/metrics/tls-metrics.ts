import { Counter, type Registry } from 'prom-client';
import type { TlsStats } from '../transport/tls.js';
import { mirror } from './mqtt-metrics.js';

/** `pulse_tls_*`: failed handshakes per TLS listener, and certificate reloads (SIGHUP). */
export function registerTlsMetrics(registry: Registry, stats: TlsStats, seen: Map<string, number>): void {
  const registers = [registry];
  new Counter({
    name: 'pulse_tls_handshake_errors_total',
    help: 'TLS handshakes that failed or were refused (protocol errors, missing or unverified client certificates), by listener',
    labelNames: ['listener'],
    registers,
    collect() {
      for (const [listener, n] of stats.handshakeErrors) {
        this.inc({ listener }, 0);
        mirror(this, { listener }, n, seen);
      }
    },
  });
  new Counter({
    name: 'pulse_tls_reloads_total',
    help: 'Certificate reloads (SIGHUP), by result (error: the previous certificate stayed in use)',
    labelNames: ['result'],
    registers,
    collect() {
      for (const result of ['ok', 'error'] as const) {
        this.inc({ result }, 0);
        mirror(this, { result }, stats.reloads[result], seen);
      }
    },
  });
}
