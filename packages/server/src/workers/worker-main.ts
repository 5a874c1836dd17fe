import { type Logger, createLogger } from '../log.js';
import { openServer } from '../run-server.js';
import type { PulseServer } from '../server.js';
import { type MetricsMessage, type StartMessage, type WorkerMessage, primaryMessage } from './messages.js';
import { workerName } from './worker-config.js';

/**
 * One worker of `pulse --workers N` (the primary forks this file): waits for its configuration
 * from the primary, runs a PulseServer on the ports the primary shares, answers the primary's
 * metrics requests, and drains on SIGTERM/SIGINT, or when the primary is gone.
 */

let server: PulseServer | undefined;
let log: Logger | undefined;
let started = false;
let stopping = false;

function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected) return resolve();
    process.send?.(message, undefined, {}, () => resolve());
  });
}

async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  await server?.stop();
  process.exit(code);
}

async function start(message: StartMessage): Promise<void> {
  started = true;
  log = createLogger(message.config.log.level).child({ worker: workerName(message.index) });
  const opened = await openServer(message.config, log, () => {
    process.exitCode = 1;
    process.exit();
  });
  if ('failure' in opened) {
    await send({ type: 'pulse:failed', message: opened.failure });
    process.exit(1);
  }
  server = opened.server;
  await send({ type: 'pulse:ready' });
}

/** This worker's registry for the primary; `null` when reading it failed (logged), so the primary does not wait. */
async function answerMetrics(id: number): Promise<void> {
  let metrics: MetricsMessage['metrics'] = null;
  try {
    metrics = server ? await (await server.metricsRegistry()).getMetricsAsJSON() : [];
  } catch (err) {
    log?.error({ err }, 'metrics: reading the registry failed');
  }
  await send({ type: 'pulse:metrics', id, metrics });
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => void stop(0));
process.on('SIGHUP', () => server?.reloadTls());
// The primary exited (or was killed): no one restarts or scrapes this worker any more.
process.on('disconnect', () => void stop(0));
process.on('message', (raw) => {
  const message = primaryMessage(raw);
  if (message?.type === 'pulse:start' && !started) {
    start(message).catch(internalError);
  } else if (message?.type === 'pulse:ping') {
    send({ type: 'pulse:alive' }).catch(internalError);
  } else if (message?.type === 'pulse:metrics?') {
    answerMetrics(message.id).catch(internalError);
  }
});

void send({ type: 'pulse:hello' });

function internalError(err: unknown): void {
  process.stderr.write(`pulse: internal error: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
}
