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
}

// Module-level listeners (the socket is `this`) instead of closures per connection:
// three fewer function objects for every idle connection.
let reportHandlerError: (err: unknown) => void = () => {};

/**
 * Where a bug in a protocol handler is reported. The connection whose input raised it is
 * destroyed; the process and every other connection carry on.
 */
export function onHandlerError(report: (err: unknown) => void): void {
  reportHandlerError = report;
}

function onData(this: OwnedSocket, chunk: Buffer): void {
  try {
    this[owner]?.onSocketData(chunk);
  } catch (err) {
    reportHandlerError(err);
    this.destroy();
  }
}
function onEnd(this: OwnedSocket): void {
  this[owner]?.onSocketEnded();
}
function onClose(this: OwnedSocket): void {
  this[owner]?.onSocketClosed();
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
