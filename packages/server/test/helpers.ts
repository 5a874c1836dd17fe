import { once } from 'node:events';
import { at } from '@pulse/protocol/test/element';
import { type Socket, connect, createServer } from 'node:net';
import { PulseClient } from '@pulse/client';
import { openTcp } from '@pulse/client/tcp';
import { type Frame, FrameError, FrameReader, decodeFrame, encodeFrame } from '@pulse/protocol';
import { pino } from 'pino';
import WebSocket from 'ws';
import { type PulseConfig, defaultConfig } from '../src/config/index.js';
import { PulseServer, type PulseServerOptions } from '../src/server.js';

export type DeepPartial<T> = { [K in keyof T]?: Partial<T[K]> };

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  server.close();
  await once(server, 'close');
  return port;
}

export interface Harness {
  server: PulseServer;
  wsUrl: string;
  httpUrl: string;
  tcpPort: number;
  metricsUrl: string;
  stop(): Promise<void>;
}

/** A real server on loopback with ephemeral ports and quiet logs. */
/**
 * Retries `start` when a port picked by freePort() was taken by another process between
 * the pick and the listen (tests run in parallel with other test files).
 */
export async function retryOnPortClash<T>(start: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= attempts) throw err;
    }
  }
}

export function startServer(
  overrides: DeepPartial<PulseConfig> = {},
  options: PulseServerOptions = {},
): Promise<Harness> {
  return retryOnPortClash(() => startServerOnce(overrides, options));
}

async function startServerOnce(
  overrides: DeepPartial<PulseConfig>,
  options: PulseServerOptions,
): Promise<Harness> {
  const config = defaultConfig();
  config.server.host = '127.0.0.1';
  config.server.port = 0;
  config.transport.tcp_port = await freePort();
  config.metrics.port = await freePort();
  config.mqtt.port = 0;
  config.log.report_interval_ms = 0;
  config.server.shutdown_drain_timeout_ms = 1000;
  for (const [section, values] of Object.entries(overrides)) {
    // Sections are merged key by key; arrays of tables ([[history]]) are replaced whole.
    if (Array.isArray(values)) (config as unknown as Record<string, unknown>)[section] = values;
    else Object.assign((config as unknown as Record<string, object>)[section] as object, values); // a section of PulseConfig
  }
  const server = new PulseServer(config, { logger: pino({ level: 'silent' }), ...options });
  const addr = await server.start();
  return {
    server,
    wsUrl: `ws://127.0.0.1:${addr.http.port}${config.transport.ws_path}`,
    httpUrl: `http://127.0.0.1:${addr.http.port}`,
    tcpPort: addr.tcp?.port ?? 0,
    metricsUrl: `http://127.0.0.1:${addr.metrics?.port}/metrics`,
    stop: () => server.stop(),
  };
}

export function wsClient(h: Harness): Promise<PulseClient> {
  return PulseClient.connect(h.wsUrl, { WebSocket: WebSocket as never });
}

export async function tcpClient(h: Harness): Promise<PulseClient> {
  return PulseClient.over(await openTcp('127.0.0.1', h.tcpPort));
}

/** Collects what a handler receives, and waits for a count. */
export class Inbox<T> {
  readonly items: T[] = [];
  private waiters: { n: number; resolve: () => void }[] = [];

  readonly push = (item: T): void => {
    this.items.push(item);
    this.waiters = this.waiters.filter((w) => {
      if (this.items.length >= w.n) w.resolve();
      return this.items.length < w.n;
    });
  };

  async waitFor(n: number, timeoutMs = 5000): Promise<T[]> {
    if (this.items.length >= n) return this.items;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out waiting for ${n} items, got ${this.items.length}`)),
        timeoutMs,
      );
      this.waiters.push({
        n,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
    return this.items;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A raw `ws` client that decodes each binary message as exactly one native frame. */
export class RawWs {
  readonly frames = new Inbox<Frame>();
  readonly messages: Buffer[] = [];
  closeCode: number | undefined;
  readonly closed: Promise<number>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) return;
      this.messages.push(data);
      const length = data.readUInt32BE(0);
      if (length !== data.length - 4)
        throw new Error(`message holds ${data.length - 4} bytes, frame says ${length}`);
      const frame = decodeFrame(data.subarray(4));
      if (frame instanceof FrameError) throw new Error(`server sent an invalid frame: ${frame.message}`);
      this.frames.push(frame);
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code) => {
        this.closeCode = code;
        resolve(code);
      }),
    );
  }

  static async open(url: string): Promise<RawWs> {
    const ws = new WebSocket(url);
    const raw = new RawWs(ws);
    await once(ws, 'open');
    await raw.frames.waitFor(1);
    return raw;
  }

  send(frame: object): void {
    this.ws.send(encodeFrame(frame as Frame));
  }

  sendBytes(bytes: Buffer): void {
    this.ws.send(bytes);
  }

  /** The next frame after the first `after` ones, waiting for it. */
  async frame(index: number): Promise<Frame> {
    return at(await this.frames.waitFor(index + 1), index);
  }

  last(): Frame {
    return at(this.frames.items, this.frames.items.length - 1);
  }
}

/** A raw TCP connection speaking length-prefixed native frames. */
export class RawTcp {
  readonly frames = new Inbox<Frame>();
  readonly closed: Promise<void>;
  private readonly reader = new FrameReader(
    {
      onFrameBody: (body) => {
        const f = decodeFrame(body);
        if (f instanceof FrameError) throw new Error(f.message);
        this.frames.push(f);
      },
      onFrameTooLarge: () => {
        throw new Error('server frame too large');
      },
    },
    16 * 1024 * 1024,
  );

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk) => this.reader.push(chunk));
    socket.on('error', () => {});
    this.closed = once(socket, 'close').then(() => {});
  }

  static async open(port: number): Promise<RawTcp> {
    const socket = connect({ host: '127.0.0.1', port });
    const raw = new RawTcp(socket);
    await once(socket, 'connect');
    await raw.frames.waitFor(1);
    return raw;
  }

  send(frame: object): void {
    this.socket.write(encodeFrame(frame as Frame));
  }
}

export async function scrape(h: Harness): Promise<string> {
  return (await fetch(h.metricsUrl)).text();
}

export function metricValue(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.slice(name.length + 1)) : Number.NaN;
}

/** A counter's value in a scrape; 0 while it has no sample. */
export function counterValue(text: string, name: string): number {
  const v = metricValue(text, name);
  return Number.isNaN(v) ? 0 : v;
}
