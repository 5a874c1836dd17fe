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

export interface HttpHandlers {
  version: string;
  isDraining(): boolean;
  onUpgrade(request: IncomingMessage, socket: Socket, head: Buffer): void;
  /** HTTPS and WSS with these options (server.tls); plain HTTP when undefined. */
  tls?: TlsOptions;
  /** The server API: every request whose path is `/api` or starts with `/api/` (http/api/router.ts). */
  api?: (req: IncomingMessage, res: ServerResponse) => void;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** An HTTP server, or HTTPS with `tls` (server.tls); the same requests and upgrades either way. */
function httpOrHttps(tls: TlsOptions | undefined, listener: RequestListener): Server {
  return tls ? createHttpsServer(tls, listener) : createServer(listener);
}

/**
 * The HTTP listener (HTTPS with `handlers.tls`): health endpoints, and WebSocket upgrades
 * handed to `onUpgrade`.
 */
export function createHttpServer(handlers: HttpHandlers): Server {
  const server = httpOrHttps(handlers.tls, (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
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
    if (handlers.api && (path === '/api' || path.startsWith('/api/'))) return handlers.api(req, res);
    sendJson(res, 404, { error: 'not found' });
  });
  return withUpgrades(server, handlers.onUpgrade);
}

function withUpgrades(server: Server, onUpgrade: HttpHandlers['onUpgrade']): Server {
  server.on('upgrade', onUpgrade);
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  return server;
}

/**
 * A listener that serves WebSocket upgrades only (mqtt.ws_port): any other request is told
 * to upgrade (426).
 */
export function createUpgradeServer(handlers: Pick<HttpHandlers, 'onUpgrade' | 'tls'>): Server {
  const server = httpOrHttps(handlers.tls, (_req, res) =>
    sendJson(res, 426, { error: 'WebSocket upgrade required (MQTT over WebSocket)' }),
  );
  return withUpgrades(server, handlers.onUpgrade);
}

export function createMetricsServer(render: () => Promise<{ contentType: string; body: string }>): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
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
