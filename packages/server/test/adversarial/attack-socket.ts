import { once } from 'node:events';
import { type Socket, connect } from 'node:net';
import { SECRET_MARKER } from './bystanders.js';
import { Opcode, clientFrame, openRawWebSocket } from './ws-raw.js';

/** What an attack run records: the recent inputs (for the failure message) and any leak. */
export interface AttackRecorder {
  input(what: string, bytes?: Uint8Array): void;
  leak(where: string, context: Buffer): void;
}

/**
 * A hostile connection: writes whatever it is given, never waits for an answer it might not
 * get, and scans every byte the server sends back for a bystander's payload.
 */
export class AttackSocket {
  closed = false;
  private tail = '';

  private constructor(
    readonly socket: Socket,
    private readonly recorder: AttackRecorder,
    readonly label: string,
    /**
     * Wraps a message in a WebSocket frame (that declares `declared` bytes when given), or
     * passes it as it is on a raw stream.
     */
    private readonly framing: (bytes: Uint8Array, declared?: number) => Uint8Array,
  ) {
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
    });
    socket.on('data', (chunk: Buffer) => this.watch(chunk));
    socket.resume();
  }

  static async tcp(port: number, recorder: AttackRecorder, label: string): Promise<AttackSocket> {
    const socket = connect({ host: '127.0.0.1', port });
    socket.on('error', () => {});
    await once(socket, 'connect');
    return new AttackSocket(socket, recorder, label, (b) => b);
  }

  /** A WebSocket upgraded at `path`; `send` puts each message in one binary frame. */
  static async ws(
    port: number,
    path: string,
    recorder: AttackRecorder,
    label: string,
    options: { protocol?: string; opcode?: number } = {},
  ): Promise<AttackSocket> {
    const { socket, rest } = await openRawWebSocket(port, path, options.protocol);
    const opcode = options.opcode ?? Opcode.binary;
    const s = new AttackSocket(socket, recorder, label, (b, declared) =>
      clientFrame(opcode, b, { declaredLength: declared }),
    );
    s.watch(rest);
    return s;
  }

  private watch(chunk: Buffer): void {
    const text = this.tail + chunk.toString('latin1');
    const at = text.indexOf(SECRET_MARKER);
    if (at >= 0)
      this.recorder.leak(this.label, Buffer.from(text.slice(Math.max(0, at - 64), at + 96), 'latin1'));
    this.tail = text.slice(-SECRET_MARKER.length);
  }

  /** One message, framed for the transport; `waitMs` for the server to read it. */
  send(what: string, message: Uint8Array, waitMs?: number): Promise<void> {
    this.recorder.input(`${this.label} ${what}`, message);
    return this.writeRaw(this.framing(message), waitMs);
  }

  /** Bytes as they are, below any framing (WebSocket headers of one's own, garbage). */
  sendRaw(what: string, bytes: Uint8Array): Promise<void> {
    this.recorder.input(`${this.label} raw ${what}`, bytes);
    return this.writeRaw(bytes);
  }

  /** Writes; when the server stops reading, waits at most `ms` for it, then gives the connection up. */
  async writeRaw(bytes: Uint8Array, ms = 300): Promise<void> {
    if (this.closed) return;
    if (this.socket.write(bytes)) return;
    // once() rejects on 'error': a reset while waiting ends the connection, not the attack.
    const drained = once(this.socket, 'drain').then(
      () => true,
      () => false,
    );
    const timeout = new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref());
    if (!(await Promise.race([drained, timeout]))) this.destroy();
  }

  /**
   * The start of a message of `declared` bytes (in a WebSocket frame that declares as much),
   * one byte per write, `gapMs` apart, until `start` is out or `until` (a Date.now() time) passes.
   */
  async dribble(
    what: string,
    start: Uint8Array,
    declared: number,
    gapMs: number,
    until: number,
  ): Promise<void> {
    this.recorder.input(`${this.label} dribbled ${what}`, start);
    const bytes = this.framing(start, declared);
    for (let i = 0; i < bytes.length && !this.closed && Date.now() < until; i++) {
      this.socket.write(bytes.subarray(i, i + 1));
      await new Promise((r) => setTimeout(r, gapMs));
    }
  }

  /** A polite end (FIN after the data). */
  end(): void {
    this.socket.end();
  }

  /** An abrupt one (RST). */
  destroy(): void {
    this.closed = true;
    this.socket.resetAndDestroy();
  }
}
