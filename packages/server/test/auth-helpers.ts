import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { type Socket, connect } from 'node:net';
import { type Frame, FrameError, FrameReader, decodeFrame, encodeFrame } from '@pulse/protocol';
import { type JWTPayload, SignJWT } from 'jose';
import { pino } from 'pino';
import WebSocket from 'ws';
import { type PulseConfig, defaultConfig } from '../src/config/index.js';
import { PulseServer, type PulseServerOptions } from '../src/server.js';
import { type DeepPartial, Inbox, freePort, retryOnPortClash } from './helpers.js';
import type { MqttHarness } from './mqtt-helpers.js';

/** An HS256 secret of the length config requires. */
export const SECRET = 'test-secret-of-at-least-32-characters!!';

/** Seconds since the epoch. */
export const now = () => Math.floor(Date.now() / 1000);

/** A signed JWT; `claims` may set `sub`, `exp`, `nbf`, `channels`, `aud`, `iss`, ... */
export async function sign(
  claims: JWTPayload & { channels?: unknown },
  key: Parameters<SignJWT['sign']>[0] | string = SECRET,
  header: { alg?: string; kid?: string } = {},
): Promise<string> {
  const alg = header.alg ?? 'HS256';
  const jwt = new SignJWT(claims).setProtectedHeader({ alg, ...(header.kid ? { kid: header.kid } : {}) });
  return jwt.sign(typeof key === 'string' ? new TextEncoder().encode(key) : key);
}

/** A token for `sub` valid for an hour, with `channels` when given. */
export function token(sub: string, channels?: string[], extra: JWTPayload = {}): Promise<string> {
  return sign({ sub, exp: now() + 3600, ...(channels ? { channels } : {}), ...extra });
}

// biome-ignore lint/suspicious/noExplicitAny: JSON replies are checked field by field
type Json = Record<string, any>;

/**
 * A raw native connection over TCP that waits for nothing on open (with auth required, the
 * server sends nothing until a valid `connect`).
 */
export class NativeTcp {
  readonly frames = new Inbox<Frame>();
  readonly closed: Promise<void>;
  isClosed = false;
  private cursor = 0;
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
    this.closed = once(socket, 'close').then(() => {
      this.isClosed = true;
    });
  }

  static async open(port: number): Promise<NativeTcp> {
    const socket = connect({ host: '127.0.0.1', port });
    await once(socket, 'connect');
    return new NativeTcp(socket);
  }

  /** Opens and sends `connect` with `token`; returns the connection and the server's answer. */
  static async connect(port: number, tokenText?: string): Promise<{ c: NativeTcp; reply: Frame }> {
    const c = await NativeTcp.open(port);
    c.send({ type: 'connect', version: 1, ...(tokenText !== undefined ? { token: tokenText } : {}) });
    return { c, reply: await c.next() };
  }

  send(frame: object): void {
    this.socket.write(encodeFrame(frame as Frame));
  }

  /** The next frame not yet returned (skipping pings). */
  async next(timeoutMs = 3000): Promise<Frame> {
    for (;;) {
      const items = await this.frames.waitFor(this.cursor + 1, timeoutMs);
      const frame = items[this.cursor++];
      assert.ok(frame !== undefined);
      if (frame.type !== 'ping') return frame;
    }
  }

  /** Asserts the next frame is an error with `code` (and `id` when given). */
  async expectError(code: number, id?: number): Promise<Frame & { message: string }> {
    const frame = (await this.next()) as Json;
    assert.equal(frame.type, 'error', `expected error ${code}, got ${JSON.stringify(frame)}`);
    assert.equal(frame.code, code, `error ${frame.code} (${frame.message}), expected ${code}`);
    if (id !== undefined) assert.equal(frame.id, id);
    return frame as Frame & { message: string };
  }

  async expectAck(id: number): Promise<void> {
    const frame = (await this.next()) as Json;
    assert.deepEqual([frame.type, frame.id], ['ack', id], `expected ack ${id}, got ${JSON.stringify(frame)}`);
  }

  async expectClosed(timeoutMs = 3000): Promise<void> {
    const timer = new Promise((_, reject) =>
      setTimeout(() => reject(new Error('the server did not close the connection')), timeoutMs).unref(),
    );
    await Promise.race([this.closed, timer]);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** A JSON protocol client on `/ws`: requests with ids, pushes, the close code. */
export class JsonClient {
  readonly pushes = new Inbox<Json>();
  readonly closed: Promise<number>;
  private nextId = 1;
  private readonly waiting = new Map<unknown, (reply: Json) => void>();

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) return;
      const message = JSON.parse(data.toString('utf8'));
      if (!('id' in message)) return this.pushes.push(message);
      const resolve = this.waiting.get(message.id);
      if (resolve) {
        this.waiting.delete(message.id);
        resolve(message);
      }
    });
    ws.on('error', () => {});
    this.closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));
  }

  static async open(url: string): Promise<JsonClient> {
    const ws = new WebSocket(url);
    const client = new JsonClient(ws);
    await once(ws, 'open');
    return client;
  }

  /** The whole reply `{id, result}` or `{id, error}`. */
  call(method: string, params?: unknown): Promise<Json> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to ${method}`)), 5000);
      this.waiting.set(id, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  async ok(method: string, params?: unknown): Promise<Json> {
    const reply = await this.call(method, params);
    assert.ok(reply.result, `${method} ${JSON.stringify(params)} failed: ${JSON.stringify(reply.error)}`);
    return reply.result;
  }

  /** The error code of a request that must fail. */
  async code(method: string, params?: unknown): Promise<number> {
    const reply = await this.call(method, params);
    assert.ok(reply.error, `${method} ${JSON.stringify(params)} should fail, got ${JSON.stringify(reply)}`);
    return reply.error.code;
  }

  close(): void {
    this.ws.close();
  }
}

/** A loopback HTTP server answering each request with `handle`; counts requests and keeps their bodies. */
export class HookServer {
  readonly requests: Json[] = [];
  url = '';
  private server: Server | undefined;

  constructor(
    public handle: (body: Json, res: ServerResponse, req: IncomingMessage) => void | Promise<void>,
  ) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      let text = '';
      req.on('data', (d) => {
        text += d;
      });
      req.on('end', () => {
        let body: Json = {};
        try {
          body = JSON.parse(text);
        } catch {}
        this.requests.push({ path: req.url, ...body });
        void this.handle(body, res, req);
      });
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
    return this;
  }

  count(filter: (r: Json) => boolean = () => true): number {
    return this.requests.filter(filter).length;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }
}

/** Writes `value` as a JSON response. */
export function reply(res: ServerResponse, value: unknown, status = 200): void {
  const body = typeof value === 'string' ? value : JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(body);
}

/**
 * A server like `startMqtt` (native TCP, WebSocket, MQTT on free ports, quiet logs) that takes
 * PulseServerOptions too (library hooks).
 */
export function startWith(
  overrides: DeepPartial<PulseConfig>,
  options: Omit<PulseServerOptions, 'logger'> = {},
): Promise<MqttHarness> {
  return retryOnPortClash(async () => {
    const config = defaultConfig();
    config.server.host = '127.0.0.1';
    config.server.port = 0;
    config.transport.tcp_port = await freePort();
    config.metrics.port = await freePort();
    config.mqtt.port = await freePort();
    config.log.report_interval_ms = 0;
    config.server.shutdown_drain_timeout_ms = 1000;
    for (const [section, values] of Object.entries(overrides)) {
      Object.assign((config as unknown as Record<string, object>)[section] as object, values); // a section of PulseConfig
    }
    const server = new PulseServer(config, { logger: pino({ level: 'silent' }), ...options });
    const addr = await server.start();
    const httpUrl = `http://127.0.0.1:${addr.http.port}`;
    return {
      server,
      wsUrl: `ws://127.0.0.1:${addr.http.port}${config.transport.ws_path}`,
      httpUrl,
      tcpPort: addr.tcp?.port ?? 0,
      metricsUrl: `http://127.0.0.1:${addr.metrics?.port}/metrics`,
      mqttPort: config.mqtt.port,
      tcpUrl: `mqtt://127.0.0.1:${config.mqtt.port}`,
      mqttWsUrl: `ws://127.0.0.1:${addr.http.port}${config.mqtt.ws_path}`,
      stop: () => server.stop(),
    };
  });
}
