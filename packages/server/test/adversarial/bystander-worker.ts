import { parentPort, workerData } from 'node:worker_threads';
import { type BystanderEndpoints, Bystanders, type LatencyReference } from './bystanders.js';

/**
 * Bystanders on a thread of their own, so that what they measure is the server's latency and
 * not the attacker's work in the test's main thread (see BystanderThread).
 */
const port = parentPort;
if (!port) throw new Error('bystander-worker runs as a worker thread');
const bystanders = await Bystanders.start(workerData as BystanderEndpoints);
port.on(
  'message',
  async (m: { enter?: string; stop?: { reference?: LatencyReference; addedLatencyMs?: number } }) => {
    if (m.enter) bystanders.enter(m.enter);
    if (m.stop) {
      await bystanders.stop();
      port.postMessage({
        problems: bystanders.problems(m.stop.reference, m.stop.addedLatencyMs),
        summary: bystanders.summary(),
        p99: bystanders.p99('attack'),
      });
    }
  },
);
port.postMessage({ ready: true });
