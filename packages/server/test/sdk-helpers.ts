import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pulse, type PulseOptions } from '@pulse/client';
import WebSocket from 'ws';
import { type DeepPartial, type Harness, freePort, sleep, startServer } from './helpers.js';
import type { PulseConfig } from '../src/config/index.js';
import { type PulseProcess, spawnPulse } from './pulse-process.js';

/** A reconnecting client over the `ws` package; `url` is a ws:// URL. */
export function pulse(url: string, options: PulseOptions = {}): Pulse {
  return new Pulse(url, { WebSocket: WebSocket as never, networkEvents: null, ...options });
}

/**
 * A server, a TestProxy in front of it, a client through the proxy (to be cut) with short
 * reconnect delays, and a client straight to the server; `closers` gets what closes them.
 */
export async function proxiedPair(
  config: DeepPartial<PulseConfig>,
  options: PulseOptions,
  closers: (() => Promise<unknown>)[],
): Promise<{ h: Harness; proxy: TestProxy; client: Pulse; direct: Pulse }> {
  const h = await startServer(config);
  closers.push(() => h.stop());
  const proxy = await TestProxy.start(Number(new URL(h.httpUrl).port));
  closers.push(() => proxy.close());
  const client = pulse(`ws://127.0.0.1:${proxy.port}/ws`, {
    minReconnectDelayMs: 50,
    maxReconnectDelayMs: 100,
    ...options,
  });
  const direct = pulse(h.wsUrl);
  closers.push(
    () => client.close(),
    () => direct.close(),
  );
  return { h, proxy, client, direct };
}

/** Waits until `check()` is true (polling), or fails saying `what`. */
export async function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Resolves with the next event `listen` hears, e.g. `next((h) => sub.on('subscribed', h))`. */
export function next<T>(listen: (handler: (v: T) => void) => () => void, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no event within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = listen((v) => {
      clearTimeout(timer);
      off();
      resolve(v);
    });
  });
}

interface Pair {
  client: Socket;
  upstream: Socket;
  stalled: boolean;
  /** The client wrote bytes the stall swallowed: a request there waits for an answer. */
  wroteIntoStall: boolean;
}

/**
 * A TCP proxy in front of a server: forwards both ways until told to `stall` (stop forwarding
 * without closing anything, as a NAT that forgot the connection does), `cut` (close every
 * connection) or `refuse` (close new connections at once, a server that is unreachable).
 */
export class TestProxy {
  refusing = false;
  /** Client sockets the proxy ended or destroyed itself (a stalled one must never be among them). */
  readonly ended = new Set<Socket>();
  private readonly pairs = new Set<Pair>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<TestProxy> {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const proxy = new TestProxy(server, (server.address() as { port: number }).port);
    server.on('connection', (client) => proxy.accept(client, targetPort));
    return proxy;
  }

  get connections(): number {
    return this.pairs.size;
  }

  private accept(client: Socket, targetPort: number): void {
    client.on('error', () => {});
    if (this.refusing) {
      this.ended.add(client);
      client.destroy();
      return;
    }
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    upstream.on('error', () => {});
    const pair: Pair = { client, upstream, stalled: false, wroteIntoStall: false };
    this.pairs.add(pair);
    client.on('data', (d) => {
      if (!pair.stalled) upstream.write(d);
      else pair.wroteIntoStall = true;
    });
    upstream.on('data', (d) => {
      if (!pair.stalled) client.write(d);
    });
    const end = () => {
      if (pair.stalled) return;
      this.pairs.delete(pair);
      this.ended.add(client);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
  }

  /** Every current connection stops carrying bytes, both ways, and stays open. */
  stall(): void {
    for (const pair of this.pairs) pair.stalled = true;
  }

  /** Stalled connections the client wrote into and has not closed: requests still waiting. */
  get waitingInStall(): number {
    let n = 0;
    for (const pair of this.pairs) if (pair.wroteIntoStall && !pair.client.destroyed) n++;
    return n;
  }

  /** Closes every current connection. */
  cut(): void {
    for (const pair of this.pairs) {
      pair.stalled = false;
      pair.client.destroy();
      pair.upstream.destroy();
    }
  }

  async close(): Promise<void> {
    for (const pair of this.pairs) {
      pair.client.destroy();
      pair.upstream.destroy();
    }
    this.pairs.clear();
    this.server.close();
    await once(this.server, 'close');
  }
}

/** A `pulse` process on a fixed HTTP port and SQLite file, killed with SIGKILL and started again. */
export class KillablePulse {
  private process: PulseProcess | undefined;
  readonly dir = mkdtempSync(join(tmpdir(), 'pulse-sdk-'));

  private constructor(readonly port: number) {}

  static async start(toml: string): Promise<KillablePulse> {
    const server = new KillablePulse(await freePort());
    try {
      writeFileSync(join(server.dir, 'pulse.toml'), toml);
      await server.start();
    } catch (err) {
      // Not started: the caller has nothing to stop, so its directory goes here.
      await server.stop();
      throw err;
    }
    return server;
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  async start(): Promise<void> {
    const args = ['--config', join(this.dir, 'pulse.toml'), '--sqlite', join(this.dir, 'pulse.db')];
    const ports = ['--port', String(this.port), '--tcp-port', '0', '--metrics-port', '0', '--mqtt-port', '0'];
    const p = spawnPulse([...args, ...ports]);
    this.process = p;
    await p.ready.catch(async (err) => {
      // The port can still be held a moment after the kill: once more.
      if (!/EADDRINUSE/.test(String(err))) throw err;
      await sleep(200);
      const again = spawnPulse([...args, ...ports]);
      this.process = again;
      await again.ready;
    });
  }

  async kill(): Promise<void> {
    await this.process?.kill();
    this.process = undefined;
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
