import { ERROR_CODE_NAMES, FRAME_TYPE_NAMES } from '@pulse/protocol';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { registerAuthMetrics } from './auth-metrics.js';
import { hideUnmeasuredEventLoopStats } from './event-loop-stats.js';
import type { MetricSources } from './metric-sources.js';
import { registerMirroredHistogram } from './mirrored-histogram.js';
import { registerClusterMetrics } from './cluster-metrics.js';
import { registerMqttClusterMetrics } from './mqtt-cluster-metrics.js';
import { registerJsonMetrics } from './json-metrics.js';
import { mirror, registerMqttMetrics } from './mqtt-metrics.js';
import { registerStorageMetrics } from './storage-metrics.js';
import { registerRateLimitMetrics } from './rate-limit-metrics.js';
import { registerTlsMetrics } from './tls-metrics.js';
import { registerInputMetrics } from './input-metrics.js';
import { TRANSPORT_NAMES } from '../transport/transport-stats.js';

/**
 * Pulse's Prometheus registry, made at the first scrape (metrics/server-metrics.ts). Hot-path
 * code only bumps numbers in the stats objects; the metrics below copy them in when scraped,
 * so an unscraped server pays nothing for them, prom-client's module included.
 */
export function createRegistry(src: MetricSources): Registry {
  const registry = new Registry();
  // Event-loop lag sampled every 100 ms, not prom-client's 10 ms: a timer a hundred times a
  // second was most of an idle server's CPU (1.25 % of a core, now 0.5 %).
  collectDefaultMetrics({ register: registry, prefix: 'pulse_', eventLoopMonitoringPrecision: 100 });
  // Gauges named `_total` break Prometheus naming (that suffix is for counters); each is the
  // sum of the gauge of the same name without it, by type.
  for (const name of ['active_handles_total', 'active_requests_total', 'active_resources_total']) {
    registry.removeSingleMetric(`pulse_nodejs_${name}`);
  }
  hideUnmeasuredEventLoopStats(registry, 'pulse_');
  const seen = new Map<string, number>();
  const transportNames = TRANSPORT_NAMES;

  new Gauge({
    name: 'pulse_connections',
    help: 'Open client connections by transport',
    labelNames: ['transport'],
    registers: [registry],
    collect() {
      for (const t of transportNames) this.set({ transport: t }, src.transports[t].open);
    },
  });
  new Counter({
    name: 'pulse_connections_accepted_total',
    help: 'Client connections accepted by transport',
    labelNames: ['transport'],
    registers: [registry],
    collect() {
      for (const t of transportNames) mirror(this, { transport: t }, src.transports[t].accepted, seen);
    },
  });
  new Counter({
    name: 'pulse_connections_rejected_total',
    help: 'Client connections refused, by reason',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      for (const [reason, n] of src.rejectedConnections) mirror(this, { reason }, n, seen);
    },
  });
  new Counter({
    name: 'pulse_connections_refused_unanswered_total',
    help: 'Refused connections closed without a reply because 256 refusals were already being answered',
    registers: [registry],
    collect() {
      mirror(this, {}, src.unansweredRefusals(), seen);
    },
  });
  new Gauge({
    name: 'pulse_outbound_queued_bytes',
    help: 'Bytes waiting to be written to clients (queues and socket buffers)',
    registers: [registry],
    collect() {
      this.set(src.outboundBytes());
    },
  });
  new Gauge({
    name: 'pulse_history_streams',
    help: 'Channels with a history stream ([[history]])',
    registers: [registry],
    collect() {
      this.set(src.broker.history?.streamCount ?? 0);
    },
  });
  new Gauge({
    name: 'pulse_history_entries',
    help: 'Publications kept in channel history',
    registers: [registry],
    collect() {
      this.set(src.broker.history?.entryCount ?? 0);
    },
  });
  new Gauge({
    name: 'pulse_history_bytes',
    help: 'Bytes (payload, channel, properties) kept in channel history (limits.max_history_bytes)',
    registers: [registry],
    collect() {
      this.set(src.broker.history?.byteCount ?? 0);
    },
  });
  new Gauge({
    name: 'pulse_subscriptions',
    help: 'Active subscriptions',
    registers: [registry],
    collect() {
      this.set(src.broker.stats.subscriptions);
    },
  });
  new Gauge({
    name: 'pulse_channels',
    help: 'Distinct channels (filters) with subscribers, plus shared subscription groups',
    registers: [registry],
    collect() {
      this.set(src.broker.channelCount);
    },
  });
  new Gauge({
    name: 'pulse_shared_groups',
    help: 'Shared subscription groups ($share/{group}/{filter}) with members',
    registers: [registry],
    collect() {
      this.set(src.broker.sharedGroupCount);
    },
  });
  new Gauge({
    name: 'pulse_presence_channels',
    help: 'Channels with at least one presence member',
    registers: [registry],
    collect() {
      this.set(src.broker.presence.channelCount);
    },
  });
  new Counter({
    name: 'pulse_publications_total',
    help: 'Publications routed',
    registers: [registry],
    collect() {
      mirror(this, {}, src.broker.stats.publications, seen);
    },
  });
  new Counter({
    name: 'pulse_publications_refused_memory_total',
    help: 'Publications refused while past limits.memory_limit',
    registers: [registry],
    collect() {
      mirror(this, {}, src.broker.overloadRefusals, seen);
    },
  });
  new Gauge({
    name: 'pulse_memory_limit_reached',
    help: '1 while the server is past limits.memory_limit and refuses publications',
    registers: [registry],
    // With workers: 1 while any of them is past its limit.
    aggregator: 'max',
    collect() {
      this.set(src.broker.overload === undefined ? 0 : 1);
    },
  });
  new Counter({
    name: 'pulse_deliveries_total',
    help: 'Messages handed to subscribers (publications and presence events)',
    registers: [registry],
    collect() {
      mirror(this, {}, src.broker.stats.deliveries, seen);
    },
  });
  for (const dir of ['in', 'out'] as const) {
    new Counter({
      name: `pulse_frames_${dir}_total`,
      help: `Native frames ${dir === 'in' ? 'received' : 'sent'} by type`,
      labelNames: ['type'],
      registers: [registry],
      collect() {
        const counts = dir === 'in' ? src.native.framesIn : src.native.framesOut;
        FRAME_TYPE_NAMES.forEach((type, i) => {
          mirror(this, { type }, counts[i + 1] as number, seen); // slot 0 unused, then one per type
        });
      },
    });
    new Counter({
      name: `pulse_bytes_${dir}_total`,
      help: `Bytes ${dir === 'in' ? 'received' : 'sent'} on client connections, by transport`,
      labelNames: ['transport'],
      registers: [registry],
      collect() {
        for (const t of transportNames) {
          const s = src.transports[t];
          mirror(this, { transport: t }, dir === 'in' ? s.bytesIn : s.bytesOut, seen);
        }
      },
    });
  }
  new Counter({
    name: 'pulse_dropped_total',
    help: 'Messages dropped for slow consumers (policy "drop")',
    labelNames: ['transport'],
    registers: [registry],
    collect() {
      for (const t of transportNames) mirror(this, { transport: t }, src.transports[t].dropped, seen);
    },
  });
  new Counter({
    name: 'pulse_slow_consumer_disconnects_total',
    help: 'Connections closed because their outbound queue exceeded the budget',
    labelNames: ['transport'],
    registers: [registry],
    collect() {
      for (const t of transportNames) {
        mirror(this, { transport: t }, src.transports[t].slowConsumerDisconnects, seen);
      }
    },
  });
  new Counter({
    name: 'pulse_publisher_pauses_total',
    help: 'Times a connection past its outbound budget paused the publisher feeding it (limits.max_publisher_pause_ms)',
    labelNames: ['transport'],
    registers: [registry],
    collect() {
      for (const t of transportNames) mirror(this, { transport: t }, src.transports[t].publisherPauses, seen);
    },
  });
  new Counter({
    name: 'pulse_reader_stalls_total',
    help: 'Connections past their outbound budget that spent their pause allowance before they drained (limits.publisher_pause_percent)',
    labelNames: ['transport'],
    registers: [registry],
    collect() {
      for (const t of transportNames) mirror(this, { transport: t }, src.transports[t].readerStalls, seen);
    },
  });
  new Counter({
    name: 'pulse_publisher_paused_seconds_total',
    help: "Time publishers spent paused by slow readers, by the publisher's transport",
    labelNames: ['transport'],
    registers: [registry],
    collect() {
      for (const t of transportNames) {
        mirror(this, { transport: t }, src.transports[t].publisherPausedMs / 1000, seen);
      }
    },
  });
  const connectionErrors = new Counter({
    name: 'pulse_connection_errors_total',
    help: 'Exceptions caught in a connection callback (each closed that connection only), by where',
    labelNames: ['where'],
    registers: [registry],
    collect() {
      for (const [where, n] of src.faults.counts) mirror(this, { where }, n, seen);
    },
  });
  // Every site from the start at 0, so that an alert on an increase sees the first one.
  for (const where of src.faults.counts.keys()) connectionErrors.inc({ where }, 0);
  new Counter({
    name: 'pulse_errors_total',
    help: 'Error frames sent, by code',
    labelNames: ['code', 'name'],
    registers: [registry],
    collect() {
      for (const [code, n] of src.native.errors) {
        mirror(this, { code: String(code), name: ERROR_CODE_NAMES[code] ?? 'Unknown' }, n, seen);
      }
    },
  });
  registerMqttMetrics(registry, src.mqtt, seen);
  registerJsonMetrics(registry, src.json, seen);
  registerStorageMetrics(registry, src.store, src.pushed, seen);
  registerTlsMetrics(registry, src.tls, seen);
  registerInputMetrics(registry, src.transports, src.inputBudget, seen);
  registerRateLimitMetrics(registry, src.rateLimits, seen);
  if (src.cluster !== undefined) registerClusterMetrics(registry, src.cluster, seen);
  if (src.cluster !== undefined && src.mqttCluster !== undefined)
    registerMqttClusterMetrics(registry, src.mqttCluster, seen);
  registerAuthMetrics(registry, src.auth);
  registerMirroredHistogram(
    registry,
    'pulse_publish_latency_seconds',
    'From a publication entering the server to the end of the write of its fan-out',
    src.pushed.latency,
  );
  new Counter({
    name: 'pulse_api_requests_total',
    help: 'HTTP server API requests (/api/*), by route and status',
    labelNames: ['route', 'status'],
    registers: [registry],
    collect() {
      for (const [key, n] of src.pushed.apiRequests) {
        const [route = '', status = ''] = key.split('|');
        mirror(this, { route, status }, n, seen);
      }
    },
  });
  return registry;
}
