import { once } from 'node:events';
import { type IncomingMessage, type Server, type ServerResponse, createServer, request } from 'node:http';
import type { Socket } from 'node:net';

/**
 * An HTTP proxy in front of a server, as some corporate proxies are: plain requests (streamed
 * both ways, so long responses and SSE pass) are forwarded; a WebSocket upgrade gets 403.
 * `refusing` answers new requests 502 (a server that is unreachable); `cut()` drops every
 * connection it holds.
 */
export class UpgradeRefusingProxy {
  refusing = false;
  upgradesRefused = 0;
  requestsForwarded = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<UpgradeRefusingProxy> {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const proxy = new UpgradeRefusingProxy(server, (server.address() as { port: number }).port);
    server.on('connection', (socket) => {
      proxy.sockets.add(socket);
      socket.on('close', () => proxy.sockets.delete(socket));
    });
    server.on('request', (req, res) => proxy.forward(req, res, targetPort));
    server.on('upgrade', (_req, socket: Socket) => {
      proxy.upgradesRefused++;
      socket.end('HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    });
    return proxy;
  }

  private forward(req: IncomingMessage, res: ServerResponse, targetPort: number): void {
    if (this.refusing) {
      res.writeHead(502).end();
      return;
    }
    this.requestsForwarded++;
    const upstream = request(
      { host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        res.flushHeaders();
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  }

  /** Closes every connection the proxy holds (browsers' streams and their POSTs). */
  cut(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  async close(): Promise<void> {
    this.cut();
    this.server.close();
    await once(this.server, 'close');
  }
}
