import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { type Socket, connect } from 'node:net';

/** A client WebSocket frame (masked, RFC 6455 §5.3), written by hand so that tests control every byte. */
export function maskedFrame(payload: Buffer, opcode = 0x2, fin = true): Buffer {
  const length = payload.length;
  const extended = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const header = Buffer.alloc(2 + extended + 4);
  header[0] = (fin ? 0x80 : 0) | opcode;
  if (extended === 0) header[1] = 0x80 | length;
  else if (extended === 2) {
    header[1] = 0x80 | 126;
    header.writeUInt16BE(length, 2);
  } else {
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(length), 2);
  }
  const mask = randomBytes(4);
  mask.copy(header, 2 + extended);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] = (body[i] as number) ^ (mask[i & 3] as number); // i < length; a 4-byte mask
  return Buffer.concat([header, body]);
}

/**
 * A raw TCP socket that has completed a WebSocket upgrade at `path`: what it writes next is
 * exactly what the test gives it, and what the server sends after the 101 is collected.
 */
export class RawWsSocket {
  readonly received: Buffer[] = [];
  readonly closed: Promise<void>;
  isClosed = false;

  private constructor(readonly socket: Socket) {
    socket.on('error', () => {});
    this.closed = once(socket, 'close').then(() => {
      this.isClosed = true;
    });
  }

  static async open(httpPort: number, path: string, subprotocol?: string): Promise<RawWsSocket> {
    const socket = connect(httpPort, '127.0.0.1');
    await once(socket, 'connect');
    const raw = new RawWsSocket(socket);
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
        (subprotocol ? `Sec-WebSocket-Protocol: ${subprotocol}\r\n` : '') +
        '\r\n',
    );
    let head = Buffer.alloc(0);
    for (;;) {
      const [chunk] = (await once(socket, 'data')) as [Buffer];
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) continue;
      const status = head.subarray(0, head.indexOf('\r\n')).toString('latin1');
      if (!status.startsWith('HTTP/1.1 101')) throw new Error(`upgrade refused: ${status}`);
      if (head.length > end + 4) raw.received.push(head.subarray(end + 4));
      socket.on('data', (c: Buffer) => raw.received.push(c));
      return raw;
    }
  }

  /** Sends `payload` as one masked binary message. */
  send(payload: Buffer): void {
    this.socket.write(maskedFrame(payload));
  }

  /** Everything the server sent after the handshake. */
  get bytes(): Buffer {
    return Buffer.concat(this.received);
  }
}
