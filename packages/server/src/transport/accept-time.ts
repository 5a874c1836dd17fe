import type { Server } from 'node:net';
import type { Socket } from 'node:net';

const acceptedAt = Symbol('pulse.acceptedAt');

interface StampedSocket extends Socket {
  [acceptedAt]?: number;
  /** The TCP socket under a TLS one (Node's TLSSocket keeps it here). */
  _parent?: StampedSocket | null;
}

function stamp(socket: StampedSocket): void {
  socket[acceptedAt] = performance.now();
}

function forget(this: unknown, request: { socket: StampedSocket }): void {
  // A keep-alive socket that has served requests: a later upgrade's deadline counts from
  // the upgrade, not from when the socket was first accepted.
  const socket = request.socket;
  socket[acceptedAt] = undefined;
  if (socket._parent) socket._parent[acceptedAt] = undefined;
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
  return s[acceptedAt] ?? s._parent?.[acceptedAt] ?? performance.now();
}
