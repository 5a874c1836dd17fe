import type { Store } from '@pulse/core';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { PushedMetrics } from './metric-sources.js';
import { registerMirroredHistogram } from './mirrored-histogram.js';
import { mirror } from './mqtt-metrics.js';

/** The store's metrics (`pulse_storage_*`), from the stats the committer updates. */
export function registerStorageMetrics(
  registry: Registry,
  store: () => Store,
  pushed: PushedMetrics,
  seen: Map<string, number>,
): void {
  const registers = [registry];
  const stats = pushed.storage;
  registerMirroredHistogram(
    registry,
    'pulse_storage_commit_seconds',
    'Duration of storage commits (one per event-loop turn with writes, or per interval under fast)',
    pushed.commitSeconds,
  );
  new Gauge({
    name: 'pulse_storage_info',
    help: 'The storage engine and commit policy (value 1)',
    labelNames: ['engine', 'commit_policy'],
    registers,
    // An info metric: 1 with workers too, not one per worker.
    aggregator: 'max',
    collect() {
      const s = store();
      this.set({ engine: s.engine, commit_policy: s.commitPolicy }, 1);
    },
  });
  new Gauge({
    name: 'pulse_storage_size_bytes',
    help: 'Bytes the store takes (database and WAL files for SQLite; payload bytes for memory)',
    registers,
    collect() {
      this.set(store().sizeBytes());
    },
  });
  new Counter({
    name: 'pulse_storage_commits_total',
    help: 'Storage transactions committed',
    registers,
    collect() {
      mirror(this, {}, stats.commits, seen);
    },
  });
  new Counter({
    name: 'pulse_storage_commit_errors_total',
    help: 'Storage commits that failed (their writes are not durable; see the error log)',
    registers,
    collect() {
      mirror(this, {}, stats.errors, seen);
    },
  });
}
