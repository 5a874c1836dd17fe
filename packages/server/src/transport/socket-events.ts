import type { Socket } from 'node:net';
import type { Connection } from './connection.js';

const owner = Symbol('pulse.connection');

interface OwnedSocket extends Socket {
  [owner]?: SocketOwner;
}

export interface SocketOwner {
  onSocketData(chunk: Buffer): void;
  /** The peer sent its FIN: it will send nothing more. */
  onSocketEnded(): void;
  onSocketClosed(): void;
  /** An exception escaped a callback: report it and close this connection (Connection.fail). */
  fail(where: 'data' | 'close', err: unknown): void;
}

// Module-level listeners (the socket is `this`) instead of closures per connection:
// three fewer function objects for every idle connection. An exception in one closes
// that connection only; it never reaches the process.
function onData(this: OwnedSocket, chunk: Buffer): void {
  const target = this[owner];
  if (target === undefined) return;
  try {
    target.onSocketData(chunk);
  } catch (err) {
    target.fail('data', err);
  }
}
function onEnd(this: OwnedSocket): void {
  const target = this[owner];
  if (target === undefined) return;
  try {
    target.onSocketEnded();
  } catch (err) {
    target.fail('close', err);
  }
}
function onClose(this: OwnedSocket): void {
  const target = this[owner];
  if (target === undefined) return;
  try {
    target.onSocketClosed();
  } catch (err) {
    target.fail('close', err);
  }
}
function onError(this: OwnedSocket): void {
  // 'close' follows every 'error'; the owner handles the cleanup there.
}

export function attachSocket(socket: Socket, target: SocketOwner & Connection): void {
  (socket as OwnedSocket)[owner] = target;
  socket.setNoDelay(true);
  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('close', onClose);
  socket.on('error', onError);
}
