import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { Socket } from 'node:net';

export interface HttpHandlers {
  version: string;
  isDraining(): boolean;
  onUpgrade(request: IncomingMessage, socket: Socket, head: Buffer): void;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** The HTTP listener: health endpoints, and WebSocket upgrades handed to `onUpgrade`. */
export function createHttpServer(handlers: HttpHandlers): Server {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
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
    sendJson(res, 404, { error: 'not found' });
  });
  server.on('upgrade', handlers.onUpgrade);
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  return server;
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
