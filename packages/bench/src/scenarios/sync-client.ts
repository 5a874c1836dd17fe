/** The synchronous MQTT 5 clients of l1 and l2 (py/sync_mqtt.py), each a python3 child process. */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const SYNC_CLIENT = fileURLToPath(new URL('../../../py/sync_mqtt.py', import.meta.url));
const PYTHON = process.env.PYTHON ?? 'python3';

/** Why the synchronous clients cannot run here, or null. */
export function syncClientsUnavailable(): string | null {
  const r = spawnSync(PYTHON, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? null : `${PYTHON} is not installed (or set PYTHON): l1 and l2 need it`;
}

/** The subscriber's last line. */
export interface SubReport {
  /** Distinct publications delivered. */
  received: number;
  duplicates: number;
  /** CLOCK_MONOTONIC ns of the first and last distinct delivery (0 without any). */
  firstNs: number;
  lastNs: number;
  unexpectedPackets: number;
  /** Reason code of a DISCONNECT from the broker, or null. */
  brokerDisconnect: number | null;
  cpuNs: number;
  /** Latencies in µs, with `--samples`. */
  samples: number[];
}

/** The publisher's (pub, devices) last line. */
export interface PubReport {
  sent: number;
  /** QoS 1/2 exchanges completed (PUBACK, PUBCOMP, or a refusal); `sent` at QoS 0. */
  acked: number;
  /** Acknowledgements with a reason code ≥ 0x80. */
  refused: number;
  /** pub: times the broker's Receive Maximum made it read acknowledgements before writing on. */
  flowControlWaits?: number;
  /** devices: how late the latest publication went out against its schedule, in µs. */
  maxLagUs?: number;
  firstNs: number;
  lastSentNs: number;
  cpuNs: number;
  brokerDisconnect: number | null;
  error: string | null;
}

const num = (v: unknown, what: string): number => {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`sync client: ${what} is not a number`);
  return v;
};
const orNull = <T>(v: unknown, check: (x: unknown) => x is T): T | null => (check(v) ? v : null);
const isNumber = (x: unknown): x is number => typeof x === 'number';
const isString = (x: unknown): x is string => typeof x === 'string';

/** A subscriber's report line, checked field by field. */
export function parseSubReport(line: string): SubReport {
  const o = JSON.parse(line) as Record<string, unknown>;
  const samples = o.samples;
  if (!Array.isArray(samples) || !samples.every(isNumber)) throw new Error('sync client: bad samples');
  return {
    received: num(o.received, 'received'),
    duplicates: num(o.duplicates, 'duplicates'),
    firstNs: num(o.firstNs, 'firstNs'),
    lastNs: num(o.lastNs, 'lastNs'),
    unexpectedPackets: num(o.unexpectedPackets, 'unexpectedPackets'),
    brokerDisconnect: orNull(o.brokerDisconnect, isNumber),
    cpuNs: num(o.cpuNs, 'cpuNs'),
    samples,
  };
}

/** A publisher's report line, checked field by field. */
export function parsePubReport(line: string): PubReport {
  const o = JSON.parse(line) as Record<string, unknown>;
  return {
    sent: num(o.sent, 'sent'),
    acked: num(o.acked, 'acked'),
    refused: num(o.refused, 'refused'),
    ...(o.flowControlWaits !== undefined ? { flowControlWaits: num(o.flowControlWaits, 'waits') } : {}),
    ...(o.maxLagUs !== undefined ? { maxLagUs: num(o.maxLagUs, 'maxLagUs') } : {}),
    firstNs: num(o.firstNs, 'firstNs'),
    lastSentNs: num(o.lastSentNs, 'lastSentNs'),
    cpuNs: num(o.cpuNs, 'cpuNs'),
    brokerDisconnect: orNull(o.brokerDisconnect, isNumber),
    error: orNull(o.error, isString),
  };
}

/**
 * One client process: resolves `ready` at its first line, `done` with its last; `go` tells a
 * publisher to start. Killed if it outlives `timeoutMs`.
 */
export class SyncClient {
  readonly ready: Promise<string>;
  readonly done: Promise<string>;
  private readonly child: ChildProcess;

  constructor(role: 'sub' | 'pub' | 'devices', args: string[], cpus: string | null, timeoutMs = 60_000) {
    const argv = [SYNC_CLIENT, role, ...args];
    this.child = cpus ? spawn('taskset', ['-c', cpus, PYTHON, ...argv]) : spawn(PYTHON, argv);
    const lines: string[] = [];
    let stderr = '';
    let buffered = '';
    let onReady: (line: string) => void = () => {};
    this.ready = new Promise((resolve) => {
      onReady = resolve;
    });
    this.child.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-2000);
    });
    this.child.stdout!.on('data', (d: Buffer) => {
      buffered += d.toString();
      let nl = buffered.indexOf('\n');
      while (nl >= 0) {
        lines.push(buffered.slice(0, nl));
        if (lines.length === 1) onReady(lines[0]!);
        buffered = buffered.slice(nl + 1);
        nl = buffered.indexOf('\n');
      }
    });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    this.done = new Promise((resolve, reject) => {
      this.child.once('close', (code, signal) => {
        clearTimeout(timer);
        if (code === 0 && lines.length >= 2) resolve(lines[lines.length - 1]!);
        else
          reject(new Error(`sync ${role} client exited (${signal ?? code}): ${stderr.trim().slice(-400)}`));
      });
    });
    // A client that dies before its first line rejects `ready` too.
    this.ready = Promise.race([this.ready, this.done.then(() => Promise.reject(new Error('no ready line')))]);
    this.ready.catch(() => {});
    this.done.catch(() => {});
  }

  go(): void {
    this.child.stdin!.write('go\n');
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}
