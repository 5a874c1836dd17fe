import type { Dialect, DialectConn, Tally } from '../generator/dialect.js';
import { findStamp, type LatencySamples, nowMicros } from '../generator/marker.js';
import type { MessageSink } from '../generator/ws-frames.js';
import { OPCODE_BINARY } from '../generator/ws-frames.js';

const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const CONNECT = 'CONNECT {"verbose":false,"pedantic":false,"protocol":1}\r\n';
const PONG = 'PONG\r\n';

/**
 * The NATS text protocol read as a stream that WebSocket frames cut anywhere (nats-server packs many
 * `MSG` into one frame and may split one across two). Only control lines are scanned; a message body
 * is skipped by the size its `MSG` line announces, and read only by a sampling connection.
 */
export class NatsSink implements MessageSink {
  readonly wantsBytes = true;
  /** Bytes of the current message body (+ CRLF) still to skip; 0 while reading a control line. */
  private bodyLeft = 0;
  private readonly line = Buffer.allocUnsafe(4096);
  private lineLength = 0;
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
    let i = start;
    while (i < end) {
      if (this.bodyLeft > 0) {
        const take = Math.min(this.bodyLeft, end - i);
        if (this.buf !== null) {
          const room = Math.min(take, this.buf.length - this.length);
          if (room > 0) chunk.copy(this.buf, this.length, i, i + room);
          this.length += Math.max(0, room);
        }
        i += take;
        this.bodyLeft -= take;
        if (this.bodyLeft === 0) this.delivered();
        continue;
      }
      const lf = chunk.indexOf(LF, i);
      if (this.lineLength === 0 && lf >= 0 && lf < end) {
        this.onLine(chunk, i, lf);
        i = lf + 1;
        continue;
      }
      // A control line split across frames: gather it.
      const stop = lf >= 0 && lf < end ? lf + 1 : end;
      if (this.lineLength + stop - i > this.line.length) throw new Error('NATS control line too long');
      chunk.copy(this.line, this.lineLength, i, stop);
      this.lineLength += stop - i;
      i = stop;
      if (this.line[this.lineLength - 1] === LF) {
        const n = this.lineLength;
        this.lineLength = 0;
        this.onLine(this.line, 0, n - 1);
      }
    }
  }

  end(): void {}

  /** `buf[start, lf)` is one control line without its LF. */
  private onLine(buf: Buffer, start: number, lf: number): void {
    const first = buf[start];
    if (first === 0x4d /* M: MSG subject sid [reply] size */ || first === 0x48 /* H: HMSG ... total */) {
      let j = lf - 1;
      if (buf[j] === CR) j--;
      let size = 0;
      let scale = 1;
      for (; j > start && buf[j] !== SPACE; j--) {
        size += (buf[j]! - 0x30) * scale; // start < j < end
        scale *= 10;
      }
      this.bodyLeft = size + 2;
      return;
    }
    if (first === 0x50 /* P */ && buf[start + 1] === 0x49 /* I: PING */) {
      this.conn.sendMessage(OPCODE_BINARY, PONG);
    } else if (first === 0x2d /* -ERR */) {
      throw new Error(`nats-server: ${buf.toString('latin1', start, lf).trim()}`);
    }
  }

  private delivered(): void {
    this.conn.count++;
    this.tally.delivered++;
    if (this.buf !== null) {
      const sent = findStamp(this.buf, 0, this.length);
      if (sent >= 0) this.samples!.add(nowMicros() - sent);
      this.length = 0;
    }
  }
}

/**
 * nats-server's WebSocket listener: the client protocol as binary WebSocket messages. A subscriber
 * sends CONNECT + SUB + PING and is ready at the PONG; a publisher sends `PUB chan size` + body.
 */
export const natsDialect: Dialect = {
  name: 'nats',
  path: '/',

  open(conn: DialectConn): void {
    const sub = conn.role === 'subscriber' ? `SUB ${conn.channel} 1\r\n` : '';
    conn.sendMessage(OPCODE_BINARY, `${CONNECT}${sub}PING\r\n`);
  },

  setupMessage(conn: DialectConn, message: Buffer): boolean {
    const text = message.toString('latin1');
    if (text.includes('-ERR')) throw new Error(`nats-server refused: ${text.trim()}`);
    if (/(^|\n)PING\r\n/.test(text)) conn.sendMessage(OPCODE_BINARY, PONG);
    return /(^|\n)PONG\r\n/.test(text);
  },

  runSink(conn: DialectConn, tally: Tally, samples: LatencySamples | null) {
    return new NatsSink(conn, tally, samples);
  },

  publication(channel: string, payload: Buffer) {
    const head = Buffer.from(`PUB ${channel} ${payload.length}\r\n`);
    return { opcode: OPCODE_BINARY, message: Buffer.concat([head, payload, Buffer.from('\r\n')]) };
  },
};
