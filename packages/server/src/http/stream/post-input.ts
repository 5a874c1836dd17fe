import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { CloseReason } from '../../transport/connection.js';
import { answer } from './answer.js';
import { FrameBoundary } from './frame-boundary.js';

/** POSTs of one session waiting behind the one being read; past them a POST gets 429. */
export const MAX_QUEUED_POSTS = 16;

export interface PostLimits {
  /** Largest POST body (limits.max_http_body_bytes). */
  readonly maxBodyBytes: number;
  /** A POST body must be in within this long of the start of its reading (limits.http_body_timeout_ms). */
  readonly bodyTimeoutMs: number;
}

/** What a POST's body is fed to: the session's connection (http-stream-connection.ts). */
export interface PostTarget {
  readonly closing: boolean;
  /** Why the server closed the session, and what it said, when it closed it with a reason. */
  readonly closeReason: CloseReason | undefined;
  readonly closeMessage: string;
  /** Bytes of a body, in order, as if read from the session's socket. */
  receive(chunk: Buffer): void;
  /** The input stopped inside a frame: the session says so (error 1001) and closes. */
  cutInsideFrame(message: string): void;
  /** Runs a callback of this input; an exception in it closes the session only. */
  contain(where: 'data', fn: () => void): void;
}

export interface Post {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** Headers of every answer (CORS). */
  readonly headers: OutgoingHttpHeaders;
}

/** The answer to the POST being read when the session closes under it. */
const STATUS_OF_CLOSE: Record<CloseReason, number> = {
  normal: 410,
  'going-away': 410,
  'protocol-error': 400,
  'too-large': 413,
  overloaded: 503,
  'rate-limited': 429,
};

interface Reading {
  readonly post: Post;
  finish(status: number, message: string): void;
}

/**
 * The client→server half of one HTTP streaming session: POST bodies read one at a time, in
 * the order they arrived, each fed to the session as it comes in (no body is held whole).
 * A POST that fails on a frame boundary (too large, too slow, cut by the client) leaves the
 * session as it was; one that stops inside a frame closes it.
 */
export class PostInput {
  private readonly waiting: Post[] = [];
  private reading: Reading | undefined;
  private paused = false;
  private readonly boundary = new FrameBoundary();

  constructor(
    private readonly target: PostTarget,
    private readonly limits: PostLimits,
  ) {}

  add(post: Post): void {
    if (this.target.closing) return answer(post.res, post.headers, 410, 'session closed', true);
    const declared = Number(post.req.headers['content-length'] ?? 0);
    if (declared > this.limits.maxBodyBytes) {
      return answer(post.res, post.headers, 413, this.tooLarge(), true);
    }
    if (this.reading !== undefined || this.waiting.length > 0 || this.paused) {
      if (this.waiting.length >= MAX_QUEUED_POSTS) {
        return answer(post.res, post.headers, 429, `more than ${MAX_QUEUED_POSTS} POSTs waiting`, true);
      }
      this.waiting.push(post);
      return;
    }
    this.read(post);
  }

  /** The session's input is held (a slow reader pauses its publisher): stop reading bodies. */
  pause(): void {
    this.paused = true;
    this.reading?.post.req.pause();
  }

  resume(): void {
    this.paused = false;
    if (this.reading !== undefined) this.reading.post.req.resume();
    else this.next();
  }

  /** The session has closed: the POST being read and those waiting are answered. */
  closed(): void {
    this.reading?.finish(this.closedStatus(), this.closedMessage());
    for (const post of this.waiting.splice(0)) answer(post.res, post.headers, 410, 'session closed', true);
  }

  private tooLarge(): string {
    return `request body exceeds ${this.limits.maxBodyBytes} bytes (limits.max_http_body_bytes)`;
  }

  private closedStatus(): number {
    const reason = this.target.closeReason;
    return reason === undefined ? 410 : STATUS_OF_CLOSE[reason];
  }

  private closedMessage(): string {
    const said = this.target.closeMessage;
    return said === '' ? 'session closed' : `session closed: ${said}`;
  }

  private next(): void {
    while (!this.paused && this.reading === undefined && !this.target.closing) {
      const post = this.waiting.shift();
      if (post === undefined) return;
      // Gone while it waited: nothing to read, nobody to answer.
      if (!post.req.destroyed) this.read(post);
    }
  }

  /** Stopped early (limit, timeout, client gone): inside a frame, the session cannot go on. */
  private cutShort(why: string): void {
    if (this.boundary.inside && !this.target.closing) this.target.cutInsideFrame(`${why} inside a frame`);
  }

  private read(post: Post): void {
    const { req } = post;
    const max = this.limits.maxBodyBytes;
    let size = 0;
    const finish = (status: number, message: string): void => {
      if (this.reading !== reading) return;
      this.reading = undefined;
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onGone);
      answer(post.res, post.headers, status, message, !req.complete);
      this.next();
    };
    const reading: Reading = { post, finish };
    const onData = (chunk: Buffer): void =>
      this.target.contain('data', () => {
        const room = max - size;
        const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
        size += part.length;
        if (part.length > 0) {
          this.boundary.pass(part);
          this.target.receive(part);
        }
        if (this.target.closing) return finish(this.closedStatus(), this.closedMessage());
        if (chunk.length > room) {
          this.cutShort('POST body over limits.max_http_body_bytes');
          finish(413, this.tooLarge());
        }
      });
    const onEnd = (): void =>
      this.target.contain('data', () => {
        if (this.boundary.inside) {
          this.target.cutInsideFrame('POST body ended inside a frame');
          return finish(400, 'request body ended inside a frame: the session is closed');
        }
        finish(204, '');
      });
    // The client went away before the end of its body; the answer goes nowhere.
    const onGone = (): void =>
      this.target.contain('data', () => {
        this.cutShort('POST body cut short');
        finish(400, 'request body was cut short');
      });
    const timer = setTimeout(
      () =>
        this.target.contain('data', () => {
          this.cutShort('POST body not received in time');
          finish(408, `request body not received within ${this.limits.bodyTimeoutMs} ms`);
        }),
      this.limits.bodyTimeoutMs,
    );
    this.reading = reading;
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('close', onGone);
    // Without a listener an IncomingMessage emits no 'error'; 'close' follows it either way.
    req.on('error', ignore);
  }
}

function ignore(): void {}
