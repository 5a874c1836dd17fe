import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { ErrorCode, LENGTH_PREFIX_BYTES, MAX_HEADER_SIZE, encodeFrame } from '@pulse/protocol';
import { SSE_WIRE_SLOT, TCP_WIRE_SLOT } from '../../encoding-slots.js';
import type { NativeStats } from '../../native/native-stats.js';
import { type CloseReason, Connection, type ConnectionEnv } from '../../transport/connection.js';
import { type Post, type PostLimits, PostInput, type PostTarget } from './post-input.js';

/** `http_stream`: length-prefixed frames as over TCP; `sse`: one Server-Sent Event a frame. */
export type HttpStreamFormat = 'http_stream' | 'sse';

const CONTENT_TYPES: Record<HttpStreamFormat, string> = {
  http_stream: 'application/octet-stream',
  sse: 'text/event-stream',
};

/**
 * A native protocol session over HTTP (docs/PROTOCOL.md, "HTTP streaming transport"): the
 * server→client bytes are the body of one long GET response, the client→server bytes the
 * bodies of POSTs naming the session. To the session and the server it is a connection like
 * any other: the same admission, handshake deadline, budgets, pauses, heartbeat and metrics.
 * Its `socket` is the GET's socket (address, backlog, close); its input is `input`.
 */
export class HttpStreamConnection extends Connection implements PostTarget {
  readonly wireSlot: number;
  readonly input: PostInput;
  closeReason: CloseReason | undefined;
  closeMessage = '';

  constructor(
    readonly transport: HttpStreamFormat,
    /** The secret that POSTs name the session by (http-streams.ts); not the connection id. */
    readonly sessionId: string,
    req: IncomingMessage,
    private readonly res: ServerResponse,
    env: ConnectionEnv,
    limits: PostLimits,
    private readonly nativeStats: NativeStats,
    headers: OutgoingHttpHeaders,
  ) {
    super(req.socket, env);
    this.wireSlot = transport === 'sse' ? SSE_WIRE_SLOT : TCP_WIRE_SLOT;
    this.input = new PostInput(this, limits);
    req.socket.setNoDelay(true);
    res.writeHead(200, {
      ...headers,
      'content-type': CONTENT_TYPES[transport],
      // Proxies must pass each write on as it comes, not keep or compress the body.
      'cache-control': 'no-store, no-transform',
      'x-accel-buffering': 'no',
      'pulse-session': sessionId,
      // The socket is this session's: not reused for another request after it.
      connection: 'close',
    });
    // EventSource cannot read headers: the session id is the first event too.
    if (transport === 'sse') res.write(`event: session\ndata: ${sessionId}\n\n`);
    else res.flushHeaders();
    res.on('close', () => this.responseClosed());
  }

  wrapNative(encodedWithHeadroom: Buffer): Buffer {
    const framed = encodedWithHeadroom.subarray(MAX_HEADER_SIZE);
    if (this.transport === 'http_stream') return framed;
    const body = framed.subarray(LENGTH_PREFIX_BYTES).toString('base64');
    return Buffer.from(`data: ${body}\n\n`, 'latin1');
  }

  frameBinary(payload: Buffer): Buffer {
    return payload;
  }

  close(reason: CloseReason, message = ''): void {
    if (this.closing) return;
    this.closeReason = reason;
    this.closeMessage = message;
    this.endAfterFlush();
  }

  /** A POST body's bytes, as TcpConnection.onSocketData takes a socket's. */
  receive(chunk: Buffer): void {
    this.takeInput(chunk);
  }

  cutInsideFrame(message: string): void {
    if (this.closing) return;
    this.nativeStats.countError(ErrorCode.InvalidFrame);
    const frame = encodeFrame(
      { type: 'error', id: 0, code: ErrorCode.InvalidFrame, message },
      MAX_HEADER_SIZE,
    );
    this.enqueue(this.wrapNative(frame), false);
    this.close('protocol-error', message);
  }

  /** A POST naming this session. */
  post(post: Post): void {
    this.input.add(post);
  }

  protected override pauseReading(): void {
    this.input.pause();
  }

  protected override resumeReading(): void {
    this.input.resume();
  }

  protected override writeOut(data: Buffer): void {
    this.res.write(data);
  }

  protected override endOut(): void {
    this.res.end();
  }

  private responseClosed(): void {
    try {
      this.onSocketClose();
    } catch (err) {
      this.fail('close', err);
    } finally {
      this.input.closed();
    }
  }
}
