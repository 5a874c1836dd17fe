import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { sleep } from './helpers.js';

/** A server program the tests start, stop and start again on the same port (redis-server, nats-server). */
export interface ServerProcess {
  /** Starts it (a no-op while it runs) and waits until `ready()` says it answers. */
  start(): Promise<void>;
  /** SIGTERM (after a SIGCONT, should a test have stopped it), waiting for the exit. */
  stop(): Promise<void>;
  /** The running process. */
  child(): ChildProcess | undefined;
  /** What the running (or last) process logged. */
  output(): string;
}

export function serverProcess(
  command: string,
  args: readonly string[],
  ready: () => Promise<boolean>,
  what: string,
): ServerProcess {
  let child: ChildProcess | undefined;
  let output = '';
  const running = (p: ChildProcess | undefined): p is ChildProcess =>
    p !== undefined && p.exitCode === null && p.signalCode === null;

  const stop = async () => {
    const current = child;
    child = undefined;
    if (!running(current)) return;
    const exited = once(current, 'exit');
    current.kill('SIGCONT');
    current.kill('SIGTERM');
    await exited;
  };

  const start = async () => {
    if (running(child)) return;
    output = '';
    const started = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = started;
    started.stdout?.on('data', (d) => {
      output += d;
    });
    started.stderr?.on('data', (d) => {
      output += d;
    });
    for (let i = 0; !(await ready()); i++) {
      if (i > 200 || started.exitCode !== null) {
        await stop();
        throw new Error(`${what} did not start: ${output}`);
      }
      await sleep(25);
    }
  };

  return { start, stop, child: () => child, output: () => output };
}
