/** Worker thread of `runBrokerMicro`: one broker measurement in a fresh isolate. */
import { parentPort, workerData } from 'node:worker_threads';
import { type BrokerTask, runBrokerTask } from './micro.js';

const { task, warmupMs, measureMs } = workerData as { task: BrokerTask; warmupMs: number; measureMs: number };
parentPort?.postMessage(runBrokerTask(task, { warmupMs, measureMs }));
