import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, sleep } from './helpers.js';

export const MOSQUITTO = '/usr/sbin/mosquitto';

/** A real Mosquitto broker on loopback, started from `config` (its listener is added). */
export interface MosquittoBroker {
  port: number;
  url: string;
  /** What it logged so far (stdout and stderr). */
  log(): string;
  /** SIGKILL: its connections drop without DISCONNECT. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

async function portOpen(port: number): Promise<boolean> {
  const socket = connect(port, '127.0.0.1');
  try {
    await Promise.race([once(socket, 'connect'), once(socket, 'error').then(() => Promise.reject())]);
    return true;
  } catch {
    return false;
  } finally {
    socket.destroy();
  }
}

export async function startMosquitto(config: string): Promise<MosquittoBroker> {
  const dir = await mkdtemp(join(tmpdir(), 'pulse-mosquitto-'));
  const port = await freePort();
  const file = join(dir, 'mosquitto.conf');
  await writeFile(
    file,
    `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stdout\nlog_type all\n${config}\n`,
  );
  const child: ChildProcess = spawn(MOSQUITTO, ['-c', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  const exited = once(child, 'exit');
  const end = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  for (let i = 0; !(await portOpen(port)); i++) {
    if (i > 100 || child.exitCode !== null) {
      await end('SIGKILL');
      await rm(dir, { recursive: true, force: true });
      throw new Error(`mosquitto did not start: ${output}`);
    }
    await sleep(50);
  }
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    log: () => output,
    kill: () => end('SIGKILL'),
    stop: async () => {
      await end('SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
  };
}
