import { rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EngineServer } from './cluster-engine-contract.js';
import { freePort } from './helpers.js';
import { serverProcess } from './server-process.js';

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
  const server = serverProcess(NATS_SERVER, args, () => greets(port), `nats-server on port ${port}`);
  await server.start();
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    monitorUrl: monitorPort === undefined ? undefined : `http://127.0.0.1:${monitorPort}`,
    log: server.output,
    restart: server.start,
    stop: server.stop,
    dispose: async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
      leftDirs.delete(dir);
    },
  };
}
