import type { TargetName } from '../dialects/index.js';
import type { GeneratorPool } from '../generator/pool.js';
import type { Protocol } from '../targets/launch.js';
import type { ServerProcess } from '../targets/server-process.js';

/** Everything a load scenario needs for one target. */
export interface ScenarioContext {
  target: TargetName;
  /** What the generator speaks to the target. */
  protocol: Protocol;
  server: ServerProcess;
  host: string;
  port: number;
  pool: GeneratorPool;
  warmupMs: number;
  measureMs: number;
  /** Handshakes in flight per generator process. */
  concurrency: number;
  log: (line: string) => void;
  /**
   * Stops the server and starts a fresh one (with fresh, empty storage) in its place; `server` and
   * `port` then refer to the new one.
   */
  restart: () => Promise<void>;
}
