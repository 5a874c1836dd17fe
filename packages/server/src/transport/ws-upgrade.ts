import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { pickSubprotocol, switchingProtocolsResponse, upgradeProblem } from '@pulse/protocol';

export interface UpgradeRoute {
  /** Subprotocols this route accepts; a client offering none of them is still accepted without one. */
  readonly subprotocols?: readonly string[];
  /** Subprotocol required: refuse clients that offer none of `subprotocols`. */
  readonly requireSubprotocol?: boolean;
  accept(socket: Socket, head: Buffer, request: IncomingMessage): void;
}

export interface UpgradeRoutes {
  /** Routes by exact request path. */
  readonly byPath: ReadonlyMap<string, UpgradeRoute>;
  /**
   * Takes an upgrade on a path no route and no HTTP endpoint has, when the client offers one of
   * its subprotocols: MQTT clients connect to whatever path they were given, as Mosquitto
   * allows (MQTT.js's CLI uses `/`).
   */
  readonly anyPath?: UpgradeRoute;
  /** Paths the HTTP listener serves itself: never taken by `anyPath`. */
  readonly isHttpEndpoint: (path: string) => boolean;
}

/** Once the HTTP server emits `upgrade` it stops listening for the socket's errors: a peer's reset must not reach the process. */
function destroyOnError(this: Socket): void {
  this.destroy();
}

function refuse(socket: Socket, status: number, reason: string, message: string): void {
  socket.on('error', destroyOnError);
  const body = `${message}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/**
 * Completes RFC 6455 opening handshakes on the HTTP listener and hands the raw socket to the
 * route for the request path. No per-connection WebSocket object from a library: what stays
 * per connection is the socket and Pulse's own small connection state (see docs/BENCHMARKS.md).
 */
export function handleUpgrade(
  routes: UpgradeRoutes,
  request: IncomingMessage,
  socket: Socket,
  head: Buffer,
): void {
  const url = request.url ?? '/';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const offered = request.headers['sec-websocket-protocol'];
  const route = routes.byPath.get(path) ?? anyPathRoute(routes, path, offered);
  if (!route) return refuse(socket, 404, 'Not Found', `no WebSocket endpoint at ${path}`);
  const key = request.headers['sec-websocket-key'];
  const problem = upgradeProblem({
    method: request.method,
    upgrade: request.headers.upgrade,
    key: typeof key === 'string' ? key : undefined,
    version: request.headers['sec-websocket-version'],
  });
  if (problem) return refuse(socket, 400, 'Bad Request', problem);
  const subprotocol = pickSubprotocol(offered, route.subprotocols ?? []);
  if (route.requireSubprotocol && !subprotocol) {
    return refuse(socket, 400, 'Bad Request', `subprotocol required: ${route.subprotocols?.join(', ')}`);
  }
  socket.write(switchingProtocolsResponse(key as string, subprotocol));
  route.accept(socket, head, request);
}

function anyPathRoute(
  routes: UpgradeRoutes,
  path: string,
  offered: string | undefined,
): UpgradeRoute | undefined {
  const route = routes.anyPath;
  if (route === undefined || routes.isHttpEndpoint(path)) return undefined;
  return pickSubprotocol(offered, route.subprotocols ?? []) !== undefined ? route : undefined;
}
