import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { PulseConfig } from '../config/index.js';

/**
 * Worker → primary: listening for messages, send the configuration. (A message sent to a worker
 * before its code listens is lost, so the primary waits for this.)
 */
export interface HelloMessage {
  type: 'pulse:hello';
}

/** Primary → worker: the configuration to run (the answer to its HelloMessage). */
export interface StartMessage {
  type: 'pulse:start';
  index: number;
  config: PulseConfig;
}

/** Primary → worker: send your metrics (answered by a MetricsMessage with the same id). */
export interface MetricsRequest {
  type: 'pulse:metrics?';
  id: number;
}

/** Primary → worker: are you there? (answered by AliveMessage; see workers/watchdog.ts). */
export interface PingMessage {
  type: 'pulse:ping';
}

/** Worker → primary: its event loop runs (the answer to a PingMessage). */
export interface AliveMessage {
  type: 'pulse:alive';
}

/** Worker → primary: listening. */
export interface ReadyMessage {
  type: 'pulse:ready';
}

/** Worker → primary: could not start, in one line (it exits 1 next). */
export interface FailedMessage {
  type: 'pulse:failed';
  message: string;
}

/** Worker → primary: its registry as `Registry.getMetricsAsJSON()` gives it; `null` if it could not be read. */
export interface MetricsMessage {
  type: 'pulse:metrics';
  id: number;
  metrics: MetricObjectWithValues<MetricValue<string>>[] | null;
}

export type WorkerMessage = HelloMessage | ReadyMessage | FailedMessage | MetricsMessage | AliveMessage;

const WORKER_TYPES: ReadonlySet<string> = new Set([
  'pulse:hello',
  'pulse:ready',
  'pulse:failed',
  'pulse:metrics',
  'pulse:alive',
]);

/** A message a worker sent, or undefined for anything else on the channel (another library's). */
export function workerMessage(message: unknown): WorkerMessage | undefined {
  if (typeof message !== 'object' || message === null) return undefined;
  const type = (message as { type?: unknown }).type;
  return typeof type === 'string' && WORKER_TYPES.has(type) ? (message as WorkerMessage) : undefined;
}

export type PrimaryMessage = StartMessage | MetricsRequest | PingMessage;

/** A message the primary sent, or undefined. */
export function primaryMessage(message: unknown): PrimaryMessage | undefined {
  if (typeof message !== 'object' || message === null) return undefined;
  const type = (message as { type?: unknown }).type;
  return type === 'pulse:start' || type === 'pulse:metrics?' || type === 'pulse:ping'
    ? (message as PrimaryMessage)
    : undefined;
}
