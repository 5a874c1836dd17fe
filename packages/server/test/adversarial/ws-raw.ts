import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { type Socket, connect } from 'node:net';

/** WebSocket as a hostile client writes it: any opcode, any declared length, masked or not. */

export const Opcode = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

export interface ClientFrameOptions {
  fin?: boolean;
  /** RSV1..3 bits (0..7). */
  rsv?: number;
  masked?: boolean;
  /** The payload length to declare; the payload's own length when absent. */
  declaredLength?: bigint | number;
  /** Force the 16- or 64-bit length form even for short payloads. */
  lengthForm?: 7 | 16 | 64;
}

/** One client-to-server frame: header, masking key, masked payload. */
export function clientFrame(opcode: number, payload: Uint8Array, options: ClientFrameOptions = {}): Buffer {
  const { fin = true, rsv = 0, masked = true } = options;
  const declared = BigInt(options.declaredLength ?? payload.length);
  const form = options.lengthForm ?? (declared < 126n ? 7 : declared < 65536n ? 16 : 64);
  const head = [(fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f)];
  const maskBit = masked ? 0x80 : 0;
  let length: Buffer;
  if (form === 7) {
    head.push(maskBit | Number(declared & 0x7fn));
    length = Buffer.alloc(0);
  } else if (form === 16) {
    head.push(maskBit | 126);
    length = Buffer.alloc(2);
    length.writeUInt16BE(Number(declared & 0xffffn));
  } else {
    head.push(maskBit | 127);
    length = Buffer.alloc(8);
    length.writeBigUInt64BE(declared & 0xffffffffffffffffn);
  }
  // Long payloads get the all-zero key (legal, and no masking work for the attacker's CPU).
  const key = !masked ? Buffer.alloc(0) : payload.length > 1024 ? Buffer.alloc(4) : randomBytes(4);
  const body = Buffer.from(payload);
  if (masked && payload.length <= 1024)
    for (let i = 0; i < body.length; i++) body[i] = (body[i] as number) ^ (key[i & 3] as number); // i < length; a 4-byte key
  return Buffer.concat([Buffer.from(head), length, key, body]);
}

export interface UpgradeRequest {
  path: string;
  /** Header lines after the request line, as written (so they can be wrong). */
  headers?: string[];
  /** `Sec-WebSocket-Protocol` value, added to the default headers. */
  protocol?: string;
}

/** A well-formed upgrade request's header lines. */
export function upgradeHeaders(host: string, protocol?: string): string[] {
  return [
    `Host: ${host}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
    'Sec-WebSocket-Version: 13',
    ...(protocol ? [`Sec-WebSocket-Protocol: ${protocol}`] : []),
  ];
}

export const upgradeRequest = (path: string, headers: string[]) =>
  Buffer.from(`GET ${path} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n`, 'latin1');

/** A TCP socket to `port` that has been upgraded to a WebSocket at `path`, and the bytes that came after the 101. */
export async function openRawWebSocket(
  port: number,
  path: string,
  protocol?: string,
): Promise<{ socket: Socket; rest: Buffer }> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.setNoDelay(true);
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.write(upgradeRequest(path, upgradeHeaders(`127.0.0.1:${port}`, protocol)));
  return new Promise((resolve, reject) => {
    let seen = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      seen = Buffer.concat([seen, chunk]);
      const end = seen.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.pause();
      const status = seen.subarray(0, seen.indexOf('\r\n')).toString('latin1');
      if (status.startsWith('HTTP/1.1 101')) resolve({ socket, rest: seen.subarray(end + 4) });
      else reject(new Error(`upgrade refused: ${status}`));
    };
    const onClose = () => reject(new Error('closed during the upgrade'));
    socket.on('data', onData);
    socket.on('close', onClose);
  });
}
