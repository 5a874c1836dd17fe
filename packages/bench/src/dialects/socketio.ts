import type { Dialect, DialectConn, Tally } from '../generator/dialect.js';
import { findStamp, type LatencySamples, nowMicros } from '../generator/marker.js';
import type { MessageSink } from '../generator/ws-frames.js';
import { OPCODE_TEXT } from '../generator/ws-frames.js';

const CH_0 = 0x30;
const CH_2 = 0x32;
const CH_4 = 0x34;

/**
 * Engine.IO v4 packets over WebSocket, one packet per message: counts Socket.IO EVENT packets
 * (`42...`) by their first two bytes and answers engine pings (`2`) with pongs (`3`). The rest of a
 * message is read only by a sampling connection, to find the latency marker.
 */
export class EngineIoSink implements MessageSink {
  readonly wantsBytes = true;
  private position = 0;
  private first = 0;
  private second = 0;
  private readonly buf: Buffer | null;
  private length = 0;

  constructor(
    private readonly conn: DialectConn,
    private readonly tally: Tally,
    private readonly samples: LatencySamples | null,
  ) {
    this.buf = samples ? Buffer.allocUnsafe(4096) : null;
  }

  bytes(chunk: Buffer, start: number, end: number): void {
    if (this.position === 0 && end > start) {
      // Each `!` read here is behind `end > start` (and `end - start > 1` for the second).
      this.first = chunk[start]!;
      if (end - start > 1) this.second = chunk[start + 1]!;
    } else if (this.position === 1) {
      this.second = chunk[start]!; // a chunk is never empty
    }
    this.position += end - start;
    if (this.buf !== null) {
      const take = Math.min(end - start, this.buf.length - this.length);
      if (take > 0) chunk.copy(this.buf, this.length, start, start + take);
      this.length += Math.max(0, take);
    }
  }

  end(): void {
    if (this.first === CH_4 && this.second === CH_2) {
      this.conn.count++;
      this.tally.delivered++;
      if (this.buf !== null) {
        const sent = findStamp(this.buf, 0, this.length);
        if (sent >= 0) this.samples!.add(nowMicros() - sent);
      }
    } else if (this.first === CH_2 && this.position === 1) {
      this.conn.sendMessage(OPCODE_TEXT, '3');
    }
    this.position = 0;
    this.first = 0;
    this.second = 0;
    this.length = 0;
  }
}

/**
 * Socket.IO 4 (peers/socketio-server.ts) spoken directly as Engine.IO v4 over WebSocket, no polling:
 * open packet `0{..}` → `40` → `40{"sid"}` → `421["join",room]` → ack `431[]`. A publication is the
 * text event `42["pub",room,"<64 ASCII bytes>"]`, which the server relays as `42["msg","<payload>"]`
 * with `io.to(room).emit`. Text rather than a binary attachment: an attachment costs two WebSocket
 * messages per event in both directions, so text is the cheaper and fairer choice for Socket.IO.
 */
export const socketIoDialect: Dialect = {
  name: 'socketio',
  path: '/socket.io/?EIO=4&transport=websocket',

  open(): void {},

  setupMessage(conn: DialectConn, message: Buffer): boolean {
    const text = message.toString('utf8');
    if (text === '2') {
      conn.sendMessage(OPCODE_TEXT, '3');
      return false;
    }
    switch (conn.setupStep) {
      case 0:
        if (text.charCodeAt(0) !== CH_0) throw new Error(`expected the Engine.IO open packet, got ${text}`);
        conn.sendMessage(OPCODE_TEXT, '40');
        conn.setupStep = 1;
        return false;
      case 1:
        if (!text.startsWith('40')) throw new Error(`Socket.IO connect refused: ${text}`);
        if (conn.role === 'publisher') return true;
        conn.sendMessage(OPCODE_TEXT, `421${JSON.stringify(['join', conn.channel])}`);
        conn.setupStep = 2;
        return false;
      default:
        if (!text.startsWith('431')) throw new Error(`expected the join ack, got ${text}`);
        return true;
    }
  },

  runSink(conn: DialectConn, tally: Tally, samples: LatencySamples | null) {
    return new EngineIoSink(conn, tally, samples);
  },

  publication(channel: string, payload: Buffer) {
    const text = payload.toString('latin1');
    if (!/^[ !#-[\]-~]*$/.test(text)) {
      throw new Error('Socket.IO payload must be printable ASCII without quotes or backslashes');
    }
    return { opcode: OPCODE_TEXT, message: Buffer.from(`42${JSON.stringify(['pub', channel, text])}`) };
  },
};
