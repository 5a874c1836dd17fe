import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EngineServer } from './cluster-engine-contract.js';
import { freePort, sleep } from './helpers.js';

export const NATS_SERVER = '/usr/sbin/nats-server';

/** A real nats-server on loopback, JetStream on (store in its temp dir). */
export interface NatsServer extends EngineServer {
  readonly port: number;
  /** The HTTP monitoring endpoint (`/connz`, `/healthz`), with `monitor` on. */
  readonly monitorUrl: string | undefined;
  /** What the running (or last) process logged. */
  log(): string;
  /** Stops it for good and removes its temp dir (store included). */
  dispose(): Promise<void>;
}

export interface NatsServerOptions {
  /** Lines of a nats-server config file (e.g. `max_payload: 4096`), for what has no flag. */
  readonly config?: string;
  /** Opens the HTTP monitoring port too. */
  readonly monitor?: boolean;
}

/** True once something on `port` answers a TCP connect with the NATS `INFO` line. */
async function greets(port: number): Promise<boolean> {
  const socket = connect(port, '127.0.0.1');
  socket.setTimeout(1000, () => socket.destroy(new Error('no INFO')));
  try {
    let seen = '';
    for await (const chunk of socket) {
      seen += String(chunk);
      if (seen.startsWith('INFO ')) return true;
      if (seen.length > 5) return false;
    }
    return false;
  } catch {
    return false;
  } finally {
    socket.destroy();
  }
}

// `stop` keeps the store for `restart`, so a test that only stops leaves its dir: removed at exit.
const leftDirs = new Set<string>();
process.once('exit', () => {
  for (const dir of leftDirs) rmSync(dir, { recursive: true, force: true });
});

/** Starts nats-server on a free port in a temp dir; `stop` removes the dir, `restart` reuses port and store. */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const dir = await mkdtemp(join(tmpdir(), 'pulse-nats-'));
  leftDirs.add(dir);
  const port = await freePort();
  const args = ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', join(dir, 'js')];
  const monitorPort = options.monitor ? await freePort() : undefined;
  if (monitorPort !== undefined) args.push('-m', String(monitorPort));
  if (options.config !== undefined) {
    const file = join(dir, 'nats.conf');
    await writeFile(file, `${options.config}\n`);
    args.unshift('-c', file);
  }
  let child: ChildProcess | undefined;
  let output = '';

  const stopProcess = async () => {
    const running = child;
    child = undefined;
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
    const exited = once(running, 'exit');
    running.kill('SIGTERM');
    await exited;
  };

  const startProcess = async () => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) return;
    output = '';
    const started = spawn(NATS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = started;
    started.stdout?.on('data', (d) => {
      output += d;
    });
    started.stderr?.on('data', (d) => {
      output += d;
    });
    for (let i = 0; !(await greets(port)); i++) {
      if (i > 200 || started.exitCode !== null) {
        await stopProcess();
        throw new Error(`nats-server did not start on port ${port}: ${output}`);
      }
      await sleep(25);
    }
  };

  await startProcess();
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    monitorUrl: monitorPort === undefined ? undefined : `http://127.0.0.1:${monitorPort}`,
    log: () => output,
    restart: startProcess,
    stop: stopProcess,
    dispose: async () => {
      await stopProcess();
      await rm(dir, { recursive: true, force: true });
      leftDirs.delete(dir);
    },
  };
}
