import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { BystanderEndpoints, LatencyReference } from './bystanders.js';

export interface Verdict {
  problems: string[];
  summary: string;
  /** p99 latency of each pair during the attack phase. */
  p99: LatencyReference;
}

/** Bystanders (bystanders.ts) run in a worker thread; the same phases, problems and summary. */
export class BystanderThread {
  private result: Verdict | undefined;

  private constructor(private readonly worker: Worker) {}

  static async start(at: BystanderEndpoints): Promise<BystanderThread> {
    const worker = new Worker(new URL('./bystander-worker.js', import.meta.url), {
      workerData: { wsUrl: at.wsUrl, mqttUrl: at.mqttUrl },
    });
    const [first] = (await once(worker, 'message')) as [{ ready?: boolean }];
    if (!first.ready) throw new Error('bystander thread did not start');
    return new BystanderThread(worker);
  }

  enter(phase: string): void {
    this.worker.postMessage({ enter: phase });
  }

  /** Stops sending, lets what is on its way arrive, and collects the verdict (latency against `reference` too). */
  async stop(reference?: LatencyReference, addedLatencyMs?: number): Promise<Verdict> {
    if (!this.result) {
      this.worker.postMessage({ stop: { reference, addedLatencyMs } });
      [this.result] = (await once(this.worker, 'message')) as [Verdict];
      await this.worker.terminate();
    }
    return this.result;
  }
}
