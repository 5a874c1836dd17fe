import type { Socket } from 'node:net';
import type { Connection } from './connection.js';

/**
 * Each socket's connection, beside the socket rather than a property on it: a property Pulse
 * adds gives its sockets more hidden classes than Node's own reads of `socket._handle` (on
 * every read and write) stay fast with; they went megamorphic.
 */
const owners = new WeakMap<Socket, SocketOwner>();

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
function onData(this: Socket, chunk: Buffer): void {
  const target = owners.get(this);
  if (target === undefined) return;
  try {
    target.onSocketData(chunk);
  } catch (err) {
    target.fail('data', err);
  }
}
function onEnd(this: Socket): void {
  const target = owners.get(this);
  if (target === undefined) return;
  try {
    target.onSocketEnded();
  } catch (err) {
    target.fail('close', err);
  }
}
function onClose(this: Socket): void {
  const target = owners.get(this);
  if (target === undefined) return;
  try {
    target.onSocketClosed();
  } catch (err) {
    target.fail('close', err);
  }
}
function onError(this: Socket): void {
  // 'close' follows every 'error'; the owner handles the cleanup there.
}

export function attachSocket(socket: Socket, target: SocketOwner & Connection): void {
  owners.set(socket, target);
  socket.setNoDelay(true);
  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('close', onClose);
  socket.on('error', onError);
}
