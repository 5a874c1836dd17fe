import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../src/cli.js', import.meta.url));

/** A `pulse` server in a process of its own, to be killed like a real one. */
export interface PulseProcess {
  child: ChildProcess;
  /** Resolves when the server logs "pulse listening" (or `readyOn`); rejects if it exits first. */
  ready: Promise<void>;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** SIGKILL, and wait for the exit. */
  kill(): Promise<void>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

/**
 * `cwd`: the working directory; `command`: the script to run instead of the built cli.js (a link
 * to it); `readyOn`: the log message that means ready (default "pulse listening").
 */
export function spawnPulse(
  args: string[],
  env: Record<string, string> = {},
  options: { cwd?: string; command?: string; readyOn?: string } = {},
): PulseProcess {
  const readyOn = `"${options.readyOn ?? 'pulse listening'}"`;
  const child = spawn(process.execPath, [options.command ?? cli, '--log', 'info', ...args], {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  let onListening: (() => void) | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    onListening = resolve;
    child.once('exit', (code) => reject(new Error(`pulse exited (${code}) before listening:\n${text}`)));
  });
  ready.catch(() => {});
  const collect = (d: Buffer) => {
    text += d.toString();
    if (text.includes(readyOn)) onListening?.();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    ready,
    output: () => text,
    exited,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
