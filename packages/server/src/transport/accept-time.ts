import type { Server } from 'node:net';
import type { Socket } from 'node:net';

/**
 * Beside the socket, not on it: a property Pulse adds gives its sockets more hidden classes than
 * Node's own property reads (`socket._handle`, on every read and write) stay fast with.
 */
const acceptedAt = new WeakMap<Socket, number>();

interface StampedSocket extends Socket {
  /** The TCP socket under a TLS one (Node's TLSSocket keeps it here). */
  _parent?: StampedSocket | null;
}

function stamp(socket: StampedSocket): void {
  acceptedAt.set(socket, performance.now());
}

function forget(this: unknown, request: { socket: StampedSocket }): void {
  // A keep-alive socket that has served requests: a later upgrade's deadline counts from
  // the upgrade, not from when the socket was first accepted.
  const socket = request.socket;
  acceptedAt.delete(socket);
  if (socket._parent) acceptedAt.delete(socket._parent);
}

/**
 * Stamps every socket `server` accepts with the time of the accept (for TLS listeners, the TCP
 * accept, before the handshake), which the handshake deadline counts from.
 */
export function stampAccepts(server: Server): void {
  server.on('connection', stamp);
  // HTTP listeners: a socket answering plain requests starts again at its upgrade.
  server.on('request', forget);
}

/** When `socket` (or the TCP socket under it) was accepted, by `performance.now()`; now if unknown. */
export function acceptTime(socket: Socket): number {
  const s = socket as StampedSocket;
  return acceptedAt.get(s) ?? (s._parent ? acceptedAt.get(s._parent) : undefined) ?? performance.now();
}
