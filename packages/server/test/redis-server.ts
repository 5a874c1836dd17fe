import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EngineServer } from './cluster-engine-contract.js';
import { freePort } from './helpers.js';
import { serverProcess } from './server-process.js';

export const REDIS_SERVER = '/usr/bin/redis-server';

/** A real redis-server on loopback, nothing persisted. */
export interface RedisServer extends EngineServer {
  readonly port: number;
  /** The running process, for signals (SIGSTOP: a server that stops answering). */
  process(): ChildProcess | undefined;
  /** What the running (or last) process logged. */
  log(): string;
  /** Stops it for good and removes its temp dir. */
  dispose(): Promise<void>;
}

/** True once something on `port` answers `PING` with `+PONG` (or `-NOAUTH`: up, with a password). */
async function pongs(port: number): Promise<boolean> {
  const socket = connect(port, '127.0.0.1');
  socket.setTimeout(1000, () => socket.destroy(new Error('no PONG')));
  socket.on('connect', () => socket.write('PING\r\n'));
  try {
    let seen = '';
    for await (const chunk of socket) {
      seen += String(chunk);
      if (seen.startsWith('+PONG') || seen.startsWith('-NOAUTH')) return true;
      if (seen.includes('\r\n')) return false;
    }
    return false;
  } catch {
    return false;
  } finally {
    socket.destroy();
  }
}

// A test that only stops leaves its dir: removed at exit.
const leftDirs = new Set<string>();
process.once('exit', () => {
  for (const dir of leftDirs) rmSync(dir, { recursive: true, force: true });
});

/**
 * Starts redis-server on a free port in a temp dir (no RDB, no AOF); `restart` reuses the port.
 * `args` are more `--name value` settings (e.g. `['--requirepass', 'secret']`).
 */
export async function startRedisServer(args: readonly string[] = []): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), 'pulse-redis-'));
  leftDirs.add(dir);
  const port = await freePort();
  const argv = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
    '--daemonize',
    'no',
    ...args,
  ];
  const server = serverProcess(REDIS_SERVER, argv, () => pongs(port), `redis-server on port ${port}`);
  await server.start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    process: server.child,
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
