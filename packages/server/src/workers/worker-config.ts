import { availableParallelism, hostname } from 'node:os';
import { basename, dirname, extname, join } from 'node:path';
import type { PulseConfig } from '../config/index.js';

/** Whether the configuration asks for worker processes (a primary that forks them) rather than one server. */
export function wantsWorkers(config: PulseConfig): boolean {
  return config.server.workers !== 1;
}

/** How many workers `server.workers` means: 0 is one per CPU the process may use. */
export function workerCount(config: PulseConfig): number {
  return config.server.workers === 0 ? availableParallelism() : config.server.workers;
}

/** `w1`, `w2`, ...: the name of worker `index` (from 1) in logs, node names and files. */
export function workerName(index: number): string {
  return `w${index}`;
}

/**
 * The SQLite file of worker `index` for the single-process file `file`: `data/pulse.db` gives
 * `data/pulse.w1.db` (a name without an extension gets `.w1` at the end).
 */
export function workerFile(file: string, index: number): string {
  const ext = extname(file);
  const stem = basename(file, ext);
  return join(dirname(file), `${stem}.${workerName(index)}${ext}`);
}

/**
 * The configuration worker `index` runs: the same as the primary's, except its node name on
 * the engine, its own store file (a restarted worker gets its own durable state back), and no
 * metrics listener (the primary serves the metrics of all workers on metrics.port).
 */
export function workerConfig(config: PulseConfig, index: number): PulseConfig {
  const name = workerName(index);
  const copy = structuredClone(config);
  copy.cluster.node_name = `${config.cluster.node_name || hostname()}:${name}`;
  copy.metrics.port = 0;
  copy.storage.path = workerFile(config.storage.path, index);
  copy.storage.wal_dir = join(config.storage.wal_dir, name);
  return copy;
}
