import {
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerResponse,
  createServer,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { TlsOptions } from 'node:tls';
import { HTTP_STREAM_PREFIX } from './stream/paths.js';

export interface HttpHandlers {
  version: string;
  isDraining(): boolean;
  onUpgrade(request: IncomingMessage, socket: Socket, head: Buffer): void;
  /** HTTPS and WSS with these options (server.tls); plain HTTP when undefined. */
  tls?: TlsOptions;
  /** Request headers (a WebSocket upgrade's too) must be in within this long of the request's start: else 408. */
  headersTimeoutMs: number;
  /** The server API: every request whose path is `/api` or starts with `/api/` (http/api/router.ts). */
  api?: (req: IncomingMessage, res: ServerResponse) => void;
  /** The HTTP streaming transport: every request under `/connection/` (http/stream/http-streams.ts). */
  httpStream?: (req: IncomingMessage, res: ServerResponse, path: string, query: string) => void;
}

const isApiPath = (path: string) => path === '/api' || path.startsWith('/api/');
const isHttpStreamPath = (path: string) => path.startsWith(HTTP_STREAM_PREFIX);

/** Paths this listener answers as plain HTTP (health, the server API), whatever the request. */
export function isHttpEndpoint(path: string): boolean {
  return path === '/health' || path === '/healthz' || isApiPath(path) || isHttpStreamPath(path);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** What a request that fails before it is parsed gets, by Node's error code (else 400). */
const CLIENT_ERROR_STATUS: Readonly<Record<string, string>> = {
  // Headers not in by limits.handshake_timeout_ms.
  ERR_HTTP_REQUEST_TIMEOUT: '408 Request Timeout',
  // Headers over Node's --max-http-header-size (16 KiB).
  HPE_HEADER_OVERFLOW: '431 Request Header Fields Too Large',
};

/** Node's own request timeout (whole request, body included), unless headers may take longer. */
const REQUEST_TIMEOUT_MS = 300_000;

/** An HTTP server, or HTTPS with `tls` (server.tls); the same requests and upgrades either way. */
function httpOrHttps(
  handlers: Pick<HttpHandlers, 'tls' | 'headersTimeoutMs'>,
  listener: RequestListener,
): Server {
  const headersTimeout = handlers.headersTimeoutMs;
  const options = {
    headersTimeout,
    requestTimeout: Math.max(REQUEST_TIMEOUT_MS, headersTimeout),
    // Node checks these timeouts every 30 s by default: a 10 s limit could last 40 s.
    connectionsCheckingInterval: Math.max(25, Math.min(1000, Math.floor(headersTimeout / 4))),
  };
  return handlers.tls
    ? createHttpsServer({ ...handlers.tls, ...options }, listener)
    : createServer(options, listener);
}

/**
 * The HTTP listener (HTTPS with `handlers.tls`): health endpoints, and WebSocket upgrades
 * handed to `onUpgrade`.
 */
export function createHttpServer(handlers: HttpHandlers): Server {
  const server = httpOrHttps(handlers, (req: IncomingMessage, res: ServerResponse) => {
    const [path = '/', query = ''] = (req.url ?? '/').split('?'); // split gives at least one part
    if (path === '/health' && (req.method === 'GET' || req.method === 'HEAD')) {
      const draining = handlers.isDraining();
      return sendJson(res, draining ? 503 : 200, {
        status: draining ? 'draining' : 'ok',
        version: handlers.version,
      });
    }
    if (path === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2 });
      return res.end('ok');
    }
    if (path === '/ws') {
      return sendJson(res, 426, { error: 'WebSocket upgrade required' });
    }
    if (handlers.api && isApiPath(path)) return handlers.api(req, res);
    if (handlers.httpStream && isHttpStreamPath(path)) return handlers.httpStream(req, res, path, query);
    sendJson(res, 404, { error: 'not found' });
  });
  return withUpgrades(server, handlers.onUpgrade);
}

function withUpgrades(server: Server, onUpgrade: HttpHandlers['onUpgrade']): Server {
  server.on('upgrade', onUpgrade);
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    const status = CLIENT_ERROR_STATUS[err.code ?? ''] ?? '400 Bad Request';
    if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\n\r\n`);
    else socket.destroy();
  });
  return server;
}

/**
 * A listener that serves WebSocket upgrades only (mqtt.ws_port): any other request is told
 * to upgrade (426).
 */
export function createUpgradeServer(
  handlers: Pick<HttpHandlers, 'onUpgrade' | 'tls' | 'headersTimeoutMs'>,
): Server {
  const server = httpOrHttps(handlers, (_req, res) =>
    sendJson(res, 426, { error: 'WebSocket upgrade required (MQTT over WebSocket)' }),
  );
  return withUpgrades(server, handlers.onUpgrade);
}

export function createMetricsServer(render: () => Promise<{ contentType: string; body: string }>): Server {
  return createServer((req, res) => {
    const [path = '/'] = (req.url ?? '/').split('?'); // split gives at least one part
    if (path !== '/metrics' || req.method !== 'GET') {
      res.writeHead(404, { 'content-type': 'text/plain' });
      return res.end('not found\n');
    }
    render().then(
      ({ contentType, body }) => {
        res.writeHead(200, { 'content-type': contentType });
        res.end(body);
      },
      () => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('metrics collection failed\n');
      },
    );
  });
}
