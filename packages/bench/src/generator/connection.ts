import { createHash } from 'node:crypto';
import net from 'node:net';
import type { Dialect, DialectConn, Role, Tally } from './dialect.js';
import type { LatencySamples } from './marker.js';
import { WholeMessages } from './message-sinks.js';
import { maskedFrame, OPCODE_CLOSE, OPCODE_PING, OPCODE_PONG, WsReader } from './ws-frames.js';

/** Every connection sends the same key, so the expected accept value is computed once. */
const WS_KEY = 'cHVsc2UtYmVuY2gta2V5IQ==';
const WS_ACCEPT = createHash('sha1').update(`${WS_KEY}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
const HEADER_END = Buffer.from('\r\n\r\n');
/**
 * Every socket of the process reads into this one buffer (net's `onread`): no Buffer per read and
 * no stream machinery. Safe because a read is fully consumed before the callback returns.
 */
export const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

export interface ConnectOptions {
  host: string;
  port: number;
  dialect: Dialect;
  role: Role;
  /** Channel to subscribe to, or to publish on. */
  channel: string;
  tally: Tally;
  /** Where to record latency, or null for a connection that only counts. */
  samples: LatencySamples | null;
  timeoutMs?: number;
}

type State = 'http' | 'setup' | 'ready' | 'closed';

/**
 * A WebSocket client on a raw socket: it does the upgrade itself, runs the dialect's setup, and then
 * only counts. `afterChunk` runs once per received TCP chunk (publish loops hook in there).
 */
export class Connection implements DialectConn {
  readonly role: Role;
  readonly channel: string;
  setupStep = 0;
  count = 0;
  afterChunk: (() => void) | null = null;
  private state: State = 'http';
  private handshake: Buffer | null = Buffer.alloc(0);
  private readonly reader: WsReader;

  constructor(
    readonly socket: net.Socket,
    private readonly options: ConnectOptions,
    private readonly settle: (err: Error | null) => void,
  ) {
    this.role = options.role;
    this.channel = options.channel;
    this.reader = new WsReader(new WholeMessages((m) => this.onSetupMessage(m)), (opcode, payload) =>
      this.onControl(opcode, payload),
    );
  }

  get dialect(): Dialect {
    return this.options.dialect;
  }

  get ready(): boolean {
    return this.state === 'ready';
  }

  sendMessage(opcode: number, payload: Buffer | string): void {
    this.socket.write(maskedFrame(opcode, payload));
  }

  /** Writes bytes that are already masked frames. */
  write(frames: Buffer): void {
    this.socket.write(frames);
  }

  close(): void {
    this.state = 'closed';
    this.socket.destroy();
  }

  onData(chunk: Buffer, length: number): void {
    try {
      if (this.state === 'http') {
        const rest = this.onHandshakeData(chunk.subarray(0, length));
        if (rest === null || rest.length === 0) return;
        chunk = rest;
        length = rest.length;
      }
      this.reader.push(chunk, 0, length);
      if (this.afterChunk !== null) this.afterChunk();
    } catch (err) {
      this.fail(err as Error);
    }
  }

  onClosed(): void {
    if (this.state === 'ready') this.options.tally.closed++;
    else if (this.state !== 'closed') this.fail(new Error('connection closed during setup'));
    this.state = 'closed';
  }

  fail(err: Error): void {
    if (this.state === 'ready') this.options.tally.closed++;
    this.state = 'closed';
    this.socket.destroy();
    this.settle(err);
  }

  private onHandshakeData(chunk: Buffer): Buffer | null {
    const head = Buffer.concat([this.handshake!, chunk]);
    const end = head.indexOf(HEADER_END);
    if (end < 0) {
      if (head.length > 16384) throw new Error('upgrade response too long');
      this.handshake = head;
      return null;
    }
    this.handshake = null;
    const text = head.subarray(0, end).toString('latin1');
    if (!/^HTTP\/1\.1 101 /.test(text)) throw new Error(`upgrade refused: ${text.split('\r\n')[0]}`);
    if (!text.toLowerCase().includes(`sec-websocket-accept: ${WS_ACCEPT.toLowerCase()}`)) {
      throw new Error('upgrade response has a wrong Sec-WebSocket-Accept');
    }
    this.state = 'setup';
    this.options.dialect.open(this);
    return head.subarray(end + HEADER_END.length);
  }

  private onSetupMessage(message: Buffer): void {
    if (this.state !== 'setup') return;
    if (!this.options.dialect.setupMessage(this, message)) return;
    this.state = 'ready';
    this.reader.sink = this.options.dialect.runSink(this, this.options.tally, this.options.samples);
    this.settle(null);
  }

  private onControl(opcode: number, payload: Buffer): void {
    if (opcode === OPCODE_PING) {
      this.sendMessage(OPCODE_PONG, payload);
    } else if (opcode === OPCODE_CLOSE) {
      const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      const reason = payload.subarray(2).toString('utf8');
      this.fail(new Error(`server closed the WebSocket: ${code} ${reason}`));
    }
  }
}

/** Opens a WebSocket to the target and resolves once the dialect's setup (e.g. subscribe + ack) is done. */
export function connect(options: ConnectOptions): Promise<Connection> {
  return new Promise((resolve, reject) => {
    let done = false;
    const socket: net.Socket = net.connect({
      host: options.host,
      port: options.port,
      noDelay: true,
      onread: {
        buffer: READ_BUFFER,
        callback: (length: number, buffer: Uint8Array): boolean => {
          conn.onData(buffer as Buffer, length);
          return true;
        },
      },
    });
    const timer = setTimeout(
      () => conn.fail(new Error(`setup timed out after ${options.timeoutMs ?? 15000} ms`)),
      options.timeoutMs ?? 15000,
    );
    const conn: Connection = new Connection(socket, options, (err) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(conn);
    });
    socket.on('connect', () => {
      socket.write(
        `GET ${options.dialect.path} HTTP/1.1\r\nHost: ${options.host}:${options.port}\r\n` +
          `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${WS_KEY}\r\n` +
          'Sec-WebSocket-Version: 13\r\n\r\n',
      );
    });
    socket.on('error', (err: Error) => conn.fail(err));
    socket.on('close', () => conn.onClosed());
  });
}
