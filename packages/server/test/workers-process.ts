import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, sleep } from './helpers.js';
import { type PulseProcess, spawnPulse } from './pulse-process.js';

/** The committed `pulse` command, as a user runs it. */
export const PULSE_BIN = fileURLToPath(new URL('../../bin/pulse.js', import.meta.url));

/** One JSON log line of the primary or a worker (workers add `worker: "w1"`, ...). */
export interface LogLine {
  level: number;
  msg: string;
  pid: number;
  worker?: string;
  [key: string]: unknown;
}

export function logLines(p: PulseProcess): LogLine[] {
  return p
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

/** The log lines `match` picks, once there are at least `count` of them. */
export async function waitForLogs(
  p: PulseProcess,
  match: (line: LogLine) => boolean,
  what: string,
  count = 1,
  ms = 15_000,
): Promise<LogLine[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = logLines(p).filter(match);
    if (found.length >= count) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${p.output()}`);
    await sleep(20);
  }
}

/** True while a process of that pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface WorkersRun {
  proc: PulseProcess;
  dir: string;
  /** Chosen by the workers from `--port 0`. */
  httpPort: number;
  tcpPort: number;
  mqttPort: number;
  metricsUrl: string;
  /** Worker pids at start, w1 first. */
  pids: number[];
}

/**
 * `pulse --workers N` in a temp dir, joined through `natsUrl`, SQLite storage, HTTP on port 0;
 * resolves when the primary logs that every worker listens.
 */
export async function startWorkers(natsUrl: string, extra: string[] = [], workers = 2): Promise<WorkersRun> {
  const dir = await mkdtemp(join(tmpdir(), 'pulse-workers-'));
  const tcpPort = await freePort();
  const mqttPort = await freePort();
  const metricsPort = await freePort();
  const args = [
    ...['--workers', String(workers), '--cluster-engine', 'nats', '--cluster-url', natsUrl],
    ...['--port', '0', '--tcp-port', String(tcpPort), '--mqtt-port', String(mqttPort)],
    ...['--metrics-port', String(metricsPort), '--log-report-interval-ms', '0'],
    ...['--storage-engine', 'sqlite', '--storage-path', join(dir, 'data', 'pulse.db')],
    ...['--shutdown-drain-timeout-ms', '1000', ...extra],
  ];
  const proc = spawnPulse(args, {}, { cwd: dir, command: PULSE_BIN, readyOn: 'pulse workers listening' });
  let all: LogLine | undefined;
  try {
    await proc.ready;
    [all] = await waitForLogs(proc, (l) => l.msg === 'pulse workers listening', 'all workers');
  } catch (err) {
    // Not started: the caller gets no `dir` to remove.
    await proc.kill();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const listening = logLines(proc).filter((l) => l.msg === 'pulse listening');
  const http = String(listening[0]?.http);
  return {
    proc,
    dir,
    httpPort: Number(http.slice(http.lastIndexOf(':') + 1)),
    tcpPort,
    mqttPort,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    pids: (all?.pids as number[]) ?? [],
  };
}
