import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SECRET, token } from '../auth-helpers.js';
import { freePort } from '../helpers.js';
import { type PulseProcess, spawnPulse } from '../pulse-process.js';

/** The key of the HTTP API in every adversarial server. */
export const API_KEY = 'adversarial-api-key-0123456789';

/** A `pulse` process with every listener on, authentication required and an API key. */
export interface Target {
  process: PulseProcess;
  pid: number;
  httpPort: number;
  tcpPort: number;
  mqttPort: number;
  httpUrl: string;
  wsUrl: string;
  mqttUrl: string;
  mqttWsUrl: string;
  /** True while the process runs. */
  alive(): boolean;
  /** VmRSS in bytes (0 once the process is gone). */
  rss(): number;
  /** The status of GET /health, or 0 when it does not answer within `ms`. */
  health(ms?: number): Promise<number>;
  stop(): Promise<void>;
}

function configToml(ports: { http: number; tcp: number; mqtt: number }): string {
  return `
[server]
host = "127.0.0.1"
port = ${ports.http}
shutdown_drain_timeout_ms = 500
[transport]
tcp_port = ${ports.tcp}
[mqtt]
port = ${ports.mqtt}
[metrics]
port = 0
[log]
report_interval_ms = 0
[auth]
enabled = true
jwt_hmac_secret = "${SECRET}"
api_keys = ["${API_KEY}"]
`;
}

export function readRss(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

async function startOnce(): Promise<Target> {
  const ports = { http: await freePort(), tcp: await freePort(), mqtt: await freePort() };
  const dir = mkdtempSync(join(tmpdir(), 'pulse-adversarial-'));
  const file = join(dir, 'pulse.toml');
  writeFileSync(file, configToml(ports));
  const p = spawnPulse(['--config', file]);
  try {
    await p.ready;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const pid = p.child.pid ?? 0;
  const httpUrl = `http://127.0.0.1:${ports.http}`;
  const alive = () => p.child.exitCode === null && p.child.signalCode === null;
  return {
    process: p,
    pid,
    httpPort: ports.http,
    tcpPort: ports.tcp,
    mqttPort: ports.mqtt,
    httpUrl,
    wsUrl: `ws://127.0.0.1:${ports.http}/ws`,
    mqttUrl: `mqtt://127.0.0.1:${ports.mqtt}`,
    mqttWsUrl: `ws://127.0.0.1:${ports.http}/mqtt`,
    alive,
    rss: () => (alive() ? readRss(pid) : 0),
    async health(ms = 5000) {
      try {
        return (await fetch(`${httpUrl}/health`, { signal: AbortSignal.timeout(ms) })).status;
      } catch {
        return 0;
      }
    },
    stop: () => p.kill(),
  };
}

/** Starts a target, again on other ports when one was taken meanwhile. */
export async function startTarget(): Promise<Target> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce();
    } catch (err) {
      if (attempt >= 5 || !String(err).includes('EADDRINUSE')) throw err;
    }
  }
}

/** A token for an attacker confined to `attack/...` channels, as an authenticated stranger is. */
export const attackerToken = (sub = 'mallory') => token(sub, ['attack/#']);
