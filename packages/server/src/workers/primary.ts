import cluster, { type Worker } from 'node:cluster';
import type { Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { PulseConfig } from '../config/index.js';
import { createMetricsServer } from '../http/http-server.js';
import type { Logger } from '../log.js';
import { ListenError, listen } from '../transport/listen.js';
import { CrashBudget, CRASH_WINDOW_MS, MAX_CRASHES } from './crash-budget.js';
import { type StartMessage, workerMessage } from './messages.js';
import { workerConfig, workerCount, workerName } from './worker-config.js';
import { type Watched, Watchdog } from './watchdog.js';
import { WorkerMetrics } from './worker-metrics.js';

const WORKER_MAIN = fileURLToPath(new URL('./worker-main.js', import.meta.url));

/** On shutdown, how long past shutdown_drain_timeout_ms a worker may take before it is killed. */
export const STOP_MARGIN_MS = 5000;

/** One worker place: `w1`..`wN`; its process changes when it is restarted. */
interface Slot {
  readonly index: number;
  readonly name: string;
  worker: Worker | undefined;
  ready: boolean;
  /** Why its last process could not start, as it said. */
  failure: string | undefined;
  readonly budget: CrashBudget;
  restartTimer: NodeJS.Timeout | undefined;
  /** Whether a process of this slot has been listening yet (its later starts are restarts). */
  everReady: boolean;
  /** Date.now() of its process's last message (watchdog.ts). */
  lastHeard: number;
}

/**
 * The primary of `pulse --workers N` (docs/CLUSTER.md, "Workers"): serves the metrics
 * port, forks the workers, which share the listening ports through node:cluster, restarts
 * one that exits unasked, and on SIGTERM/SIGINT stops them all. Resolves with the exit code.
 */
export function runPrimary(config: PulseConfig, log: Logger): Promise<number> {
  return new WorkerPool(config, log).run();
}

class WorkerPool {
  private readonly slots: Slot[];
  private readonly byId = new Map<number, Slot>();
  readonly restarts = new Map<string, number>();
  private readonly metrics: WorkerMetrics;
  private readonly watchdog: Watchdog;
  private metricsServer: Server | undefined;
  private started = false;
  private stopping = false;
  private exitCode = 0;
  private killTimer: NodeJS.Timeout | undefined;
  private finish: (code: number) => void = () => {};

  constructor(
    private readonly config: PulseConfig,
    private readonly log: Logger,
  ) {
    this.slots = Array.from({ length: workerCount(config) }, (_, i) => ({
      index: i + 1,
      name: workerName(i + 1),
      worker: undefined,
      ready: false,
      failure: undefined,
      budget: new CrashBudget(),
      restartTimer: undefined,
      everReady: false,
      lastHeard: 0,
    }));
    this.watchdog = new Watchdog(
      this.slots.map((slot) => this.watched(slot)),
      config.server.worker_watchdog_ms,
    );
    this.metrics = new WorkerMetrics({
      configured: this.slots.length,
      ready: () => this.slots.flatMap((s) => (s.ready && s.worker ? [s.worker] : [])),
      restarts: this.restarts,
    });
  }

  async run(): Promise<number> {
    const { config } = this;
    // First: a metrics port in use is one line before any worker has started.
    if (config.metrics.enabled && config.metrics.port !== 0) {
      this.metricsServer = createMetricsServer(async () => ({
        contentType: this.metrics.contentType,
        body: await this.metrics.render(),
      }));
      try {
        await listen(this.metricsServer, {
          host: config.metrics.host,
          port: config.metrics.port,
          keys: 'metrics.host / metrics.port',
        });
      } catch (err) {
        if (!(err instanceof ListenError)) throw err;
        process.stderr.write(`pulse: ${err.message}\n`);
        return 1;
      }
    }
    cluster.setupPrimary({ exec: WORKER_MAIN, args: [] });
    cluster.on('message', (worker, message) => this.onMessage(worker, message));
    cluster.on('exit', (worker, code, signal) => {
      // Decide once the IPC channel is drained: a worker's last message may come after its exit.
      if (worker.isConnected()) worker.once('disconnect', () => this.exited(worker, code, signal));
      else this.exited(worker, code, signal);
    });
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.on(signal, () => {
        this.log.info({ signal }, 'shutting down: stopping the workers');
        this.stop(0);
      });
    }
    // TLS certificates are read by the workers: each reloads its own.
    process.on('SIGHUP', () => {
      for (const slot of this.slots) slot.worker?.process.kill('SIGHUP');
    });
    const done = new Promise<number>((resolve) => {
      this.finish = resolve;
    });
    this.log.info({ workers: this.slots.length }, 'pulse primary: starting the workers');
    for (const slot of this.slots) this.fork(slot);
    this.watchdog.start();
    return done;
  }

  private watched(slot: Slot): Watched {
    return {
      name: slot.name,
      get ready() {
        return slot.ready && slot.worker !== undefined;
      },
      get lastHeard() {
        return slot.lastHeard;
      },
      ping: () => slot.worker?.send({ type: 'pulse:ping' }, undefined, {}, () => {}),
      kill: (reason) => {
        const worker = slot.worker;
        if (worker === undefined) return;
        slot.ready = false;
        this.log.error(
          { worker: slot.name, pid: worker.process.pid },
          `worker ${slot.name} ${reason}; killing it`,
        );
        worker.process.kill('SIGKILL');
      },
    };
  }

  private fork(slot: Slot): void {
    const worker = cluster.fork();
    // A send or a signal to a worker that has just died: its exit is handled; never a crash here.
    worker.on('error', (err) => this.log.warn({ worker: slot.name, err }, `worker ${slot.name}: ${err}`));
    slot.worker = worker;
    slot.ready = false;
    slot.failure = undefined;
    this.byId.set(worker.id, slot);
  }

  /** Answers a worker's hello with its configuration. */
  private sendStart(slot: Slot, worker: Worker): void {
    const start: StartMessage = {
      type: 'pulse:start',
      index: slot.index,
      config: workerConfig(this.config, slot.index),
    };
    worker.send(start, undefined, {}, () => {});
  }

  private onMessage(worker: Worker, raw: unknown): void {
    const message = workerMessage(raw);
    const slot = this.byId.get(worker.id);
    if (message === undefined || slot === undefined) return;
    slot.lastHeard = Date.now();
    switch (message.type) {
      case 'pulse:hello':
        return this.sendStart(slot, worker);
      case 'pulse:ready':
        return this.ready(slot, worker);
      case 'pulse:failed':
        slot.failure = String(message.message);
        return;
      case 'pulse:metrics':
        return this.metrics.accept(worker.id, message);
      case 'pulse:alive':
        return;
    }
  }

  private ready(slot: Slot, worker: Worker): void {
    slot.ready = true;
    slot.lastHeard = Date.now();
    const pid = worker.process.pid;
    if (slot.everReady) this.log.info({ worker: slot.name, pid }, `worker ${slot.name} restarted`);
    slot.everReady = true;
    if (this.started || !this.slots.every((s) => s.ready)) return;
    this.started = true;
    this.log.info(
      {
        workers: this.slots.length,
        pids: this.slots.map((s) => s.worker?.process.pid),
        metrics: this.metricsAddress(),
      },
      'pulse workers listening',
    );
  }

  private metricsAddress(): string {
    const address = this.metricsServer?.address();
    return address && typeof address === 'object' ? `${address.address}:${address.port}` : 'off';
  }

  private exited(worker: Worker, code: number | null, signal: string | null): void {
    const slot = this.byId.get(worker.id);
    if (slot === undefined) return;
    this.byId.delete(worker.id);
    this.metrics.forget(worker.id);
    slot.worker = undefined;
    slot.ready = false;
    if (this.stopping) {
      if (this.slots.every((s) => s.worker === undefined)) this.finished();
      return;
    }
    const how = signal ? `signal ${signal}` : `code ${code}`;
    const pid = worker.process.pid;
    if (!this.started) {
      // A worker that cannot start now will not start on a retry either (a file, a port, the engine).
      process.stderr.write(
        `pulse: ${slot.failure ?? `worker ${slot.name} exited with ${how} while starting`}\n`,
      );
      this.stop(1);
      return;
    }
    if (slot.failure !== undefined) {
      this.log.error({ worker: slot.name, pid }, `worker ${slot.name} could not start: ${slot.failure}`);
    }
    const delay = slot.budget.crashed(Date.now());
    if (delay === undefined) {
      this.log.fatal(
        { worker: slot.name, pid, code, signal },
        `worker ${slot.name} exited with ${how}, the ${MAX_CRASHES}th time within ${CRASH_WINDOW_MS / 1000} s; stopping`,
      );
      this.stop(1);
      return;
    }
    this.log.error(
      { worker: slot.name, pid, code, signal },
      `worker ${slot.name} exited with ${how}, restarting in ${delay} ms`,
    );
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (this.stopping) return;
      this.restarts.set(slot.name, (this.restarts.get(slot.name) ?? 0) + 1);
      this.fork(slot);
    }, delay);
  }

  /** Stops every worker (each drains), then resolves run() with `code`; stragglers are killed. */
  private stop(code: number): void {
    if (this.stopping) return;
    this.stopping = true;
    this.exitCode = code;
    this.watchdog.stop();
    for (const slot of this.slots) clearTimeout(slot.restartTimer);
    const running = this.slots.filter((s) => s.worker !== undefined);
    if (running.length === 0) return this.finished();
    for (const slot of running) slot.worker?.process.kill('SIGTERM');
    const limit = this.config.server.shutdown_drain_timeout_ms + STOP_MARGIN_MS;
    this.killTimer = setTimeout(() => {
      for (const slot of this.slots) {
        if (slot.worker === undefined) continue;
        this.log.warn(
          { worker: slot.name, pid: slot.worker.process.pid },
          `worker ${slot.name} did not stop within ${limit} ms; killing it`,
        );
        slot.worker.process.kill('SIGKILL');
        this.exitCode ||= 1;
      }
    }, limit);
  }

  private finished(): void {
    clearTimeout(this.killTimer);
    const close = this.metricsServer?.listening
      ? new Promise<void>((resolve) => this.metricsServer?.close(() => resolve()))
      : Promise.resolve();
    void close.then(() => {
      this.log.info({ workers: this.slots.length }, 'pulse stopped');
      this.finish(this.exitCode);
    });
  }
}
