import type { Socket } from 'node:net';
import { MAX_HEADER_SIZE } from '@pulse/protocol';
import { TCP_WIRE_SLOT } from '../encoding-slots.js';
import { Connection, type ConnectionEnv } from './connection.js';
import { type SocketOwner, attachSocket } from './socket-events.js';

/** A raw TCP connection carrying length-prefixed native frames. */
export class TcpConnection extends Connection implements SocketOwner {
  readonly transport = 'tcp' as const;
  readonly wireSlot = TCP_WIRE_SLOT;

  constructor(socket: Socket, env: ConnectionEnv) {
    super(socket, env);
    attachSocket(socket, this);
  }

  wrapNative(encodedWithHeadroom: Buffer): Buffer {
    return encodedWithHeadroom.subarray(MAX_HEADER_SIZE);
  }

  frameBinary(payload: Buffer): Buffer {
    return payload;
  }

  close(): void {
    if (this.closing) return;
    this.endAfterFlush();
  }

  onSocketData(chunk: Buffer): void {
    this.takeInput(chunk);
  }

  onSocketClosed(): void {
    this.onSocketClose();
  }
}
