import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

export interface SpawnOptions {
  /** Shown in messages. */
  label: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  logFile: string;
  /** Open an IPC channel (node peers exit when it closes, so nothing outlives the benchmark). */
  ipc?: boolean;
  /** CPUs to pin the server to (`taskset -c`), or null to let the scheduler place it. */
  cpus?: string | null;
  /**
   * The server's data directory, removed (with everything in it) once the server has stopped. A
   * server that started and left it empty stored nothing: `stop` then throws.
   */
  dataDir?: string | null;
  /**
   * Count the CPU of its live child processes too (`pulse --workers N`: the primary forks the
   * workers, which do the work).
   */
  withChildren?: boolean;
  /** Resolves true once the server (of that pid) answers. */
  ready: (pid: number) => Promise<boolean>;
  timeoutMs?: number;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function processCpuMicros(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
  } catch {
    return 0; // a child that exited between listing and reading
  }
}

/** The live children of `pid` (/proc/PID/task/TID/children of each of its threads). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'latin1').trim();
    if (text !== '') out.push(...text.split(' ').map(Number));
  }
  return out;
}

/** A server under test, started as a child process with its output in a log file. */
export class ServerProcess {
  private started = false;
  private removed = false;

  private constructor(
    readonly label: string,
    private readonly child: ChildProcess,
    readonly logFile: string,
    private readonly dataDir: string | null,
    private readonly withChildren: boolean,
  ) {}

  static async start(options: SpawnOptions): Promise<ServerProcess> {
    const log = openSync(options.logFile, 'w');
    // taskset execs the command, so the child's pid stays the server's pid.
    const [command, args] = options.cpus
      ? ['taskset', ['-c', options.cpus, options.command, ...options.args]]
      : [options.command, options.args];
    const child = spawn(command, args, {
      env: options.env ?? process.env,
      stdio: ['ignore', log, log, ...(options.ipc ? (['ipc'] as const) : [])],
    });
    closeSync(log);
    running.add(child);
    child.once('exit', () => running.delete(child));
    const server = new ServerProcess(
      options.label,
      child,
      options.logFile,
      options.dataDir ?? null,
      options.withChildren ?? false,
    );
    const deadline = Date.now() + (options.timeoutMs ?? 15000);
    while (Date.now() < deadline) {
      if (!server.alive) {
        await server.stop();
        throw new Error(`${options.label} exited during start-up: ${server.logTail()}`);
      }
      if (await options.ready(server.pid).catch(() => false)) {
        server.started = true;
        return server;
      }
      await sleep(50);
    }
    await server.stop();
    throw new Error(`${options.label} did not become ready: ${server.logTail()}`);
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resident set size in KiB (VmRSS of /proc/PID/status). */
  rssKiB(): number {
    const status = readFileSync(`/proc/${this.pid}/status`, 'latin1');
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
    if (!m) throw new Error(`no VmRSS for ${this.label}`);
    return Number(m[1]);
  }

  /** User + system CPU time in microseconds, all threads (/proc/PID/stat), and its children's if asked. */
  cpuMicros(): number {
    const pids = this.withChildren ? [this.pid, ...childPids(this.pid)] : [this.pid];
    return pids.reduce((n, pid) => n + processCpuMicros(pid), 0);
  }

  logTail(lines = 10): string {
    try {
      const text = readFileSync(this.logFile, 'utf8').trimEnd();
      return text.split('\n').slice(-lines).join('\n') || '(empty log)';
    } catch {
      return '(no log)';
    }
  }

  async stop(): Promise<void> {
    if (this.alive) {
      const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    if (this.dataDir === null || this.removed) return;
    this.removed = true;
    const stored = readdirSync(this.dataDir).length > 0;
    rmSync(this.dataDir, { recursive: true, force: true });
    if (this.started && !stored) {
      throw new Error(`${this.label} left its data directory empty: it stored nothing (${this.logTail(2)})`);
    }
  }
}

/** Busy, interrupt and total jiffies of each core (/proc/stat `cpuN` lines; busy includes irq). */
function coreTicks(): { busy: number; irq: number; total: number }[] {
  return readFileSync('/proc/stat', 'latin1')
    .split('\n')
    .filter((line) => /^cpu\d+ /.test(line))
    .map((line) => {
      const fields = line.trim().split(/\s+/).slice(1, 9).map(Number);
      const total = fields.reduce((a, b) => a + b, 0);
      // A cpuN line has at least eight counters (user .. steal) since Linux 2.6.11.
      return { busy: total - fields[3]! - fields[4]!, irq: fields[5]! + fields[6]!, total };
    });
}

export interface ResourceUse {
  peakRssKiB: number;
  /** CPU the server used, in cores (1 = one core busy). */
  cpuShare: number;
  /** The same in microseconds of CPU time. */
  cpuMicros: number;
  /** How busy each core was, 1 = 100 %. */
  coreBusy: number[];
  /** Interrupt and softirq time of all cores (loopback TCP is processed there), in cores. */
  irqShare: number;
}

/** Peak RSS and CPU share of a server while a measurement runs. */
export class ResourceWatch {
  peakRssKiB = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly cpuStart: number;
  private readonly coresStart = coreTicks();
  private readonly startedAt = performance.now();

  constructor(private readonly server: ServerProcess) {
    this.cpuStart = server.cpuMicros();
    this.sample();
    this.timer = setInterval(() => this.sample(), 100);
  }

  stop(): ResourceUse {
    clearInterval(this.timer);
    this.sample();
    const elapsedMicros = (performance.now() - this.startedAt) * 1000;
    const cores = coreTicks();
    const start = (i: number) => this.coresStart[i] ?? { busy: 0, irq: 0, total: 0 };
    const cpuMicros = this.server.cpuMicros() - this.cpuStart;
    return {
      peakRssKiB: this.peakRssKiB,
      cpuShare: cpuMicros / elapsedMicros,
      cpuMicros,
      coreBusy: cores.map((c, i) => (c.busy - start(i).busy) / Math.max(1, c.total - start(i).total)),
      irqShare: cores.reduce(
        (n, c, i) => n + (c.irq - start(i).irq) / Math.max(1, c.total - start(i).total),
        0,
      ),
    };
  }

  private sample(): void {
    if (this.server.alive) this.peakRssKiB = Math.max(this.peakRssKiB, this.server.rssKiB());
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Pins every thread of a running process to `cpus` (a taskset list such as "1" or "0-1"). */
export function pinProcess(pid: number, cpus: string): void {
  execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
}

/** A port nobody listens on right now. */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** True once something accepts TCP connections on host:port. */
export function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** True once GET url answers 200. */
export async function httpOk(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
  await res.arrayBuffer();
  return res.status === 200;
}

/** `err`'s message, with the server's last log lines when the server is gone (a run's failure). */
export function failureWith(err: unknown, server: ServerProcess): string {
  const message = (err as Error).message;
  return server.alive ? message : `${message}; the server died: ${server.logTail(3)}`;
}
