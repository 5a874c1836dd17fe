import { type ClientRequest, type IncomingMessage, request } from 'node:http';
import { type Frame, FrameError, FrameReader, decodeFrame, encodeFrame } from '@pulse/protocol';
import { Inbox } from './helpers.js';

/** A native frame with its length prefix, as a POST body carries it. */
export const framed = (frame: Frame): Buffer => encodeFrame(frame);

/** A raw HTTP streaming session: the GET read frame by frame, POSTs sent by hand. */
export class RawHttpStream {
  readonly frames = new Inbox<Frame>();
  /** Resolves when the server ends (or drops) the stream. */
  readonly ended: Promise<void>;
  private constructor(
    readonly base: string,
    readonly session: string,
    readonly response: IncomingMessage,
    private readonly req: ClientRequest,
    sse: boolean,
  ) {
    const reader = new FrameReader(
      {
        onFrameBody: (body) => {
          const frame = decodeFrame(Buffer.from(body));
          if (!(frame instanceof FrameError)) this.frames.push(frame);
        },
        onFrameTooLarge: () => {},
      },
      16 * 1024 * 1024,
    );
    let text = '';
    response.on('data', (chunk: Buffer) => {
      if (!sse) return reader.push(chunk);
      text += chunk.toString('latin1');
      const events = text.split('\n\n');
      text = events.pop() ?? '';
      for (const event of events) {
        const data = /^data: (.*)$/m.exec(event)?.[1];
        if (data !== undefined && !event.startsWith('event:')) {
          const frame = decodeFrame(Buffer.from(data, 'base64'));
          if (!(frame instanceof FrameError)) this.frames.push(frame);
        }
      }
    });
    this.ended = new Promise((resolve) => {
      response.on('close', resolve);
      response.on('error', () => resolve());
    });
  }

  static open(base: string, sse = false, headers: Record<string, string> = {}): Promise<RawHttpStream> {
    return new Promise((resolve, reject) => {
      const req = request(`${base}/connection/${sse ? 'sse' : 'stream'}`, { headers }, (res) => {
        const session = res.headers['pulse-session'];
        if (res.statusCode !== 200 || typeof session !== 'string') {
          reject(new Error(`stream refused: ${res.statusCode}`));
          res.resume();
          return;
        }
        resolve(new RawHttpStream(base, session, res, req, sse));
      });
      req.on('error', reject);
      req.end();
    });
  }

  post(body: Buffer, headers: Record<string, string> = {}): Promise<Answer> {
    return post(`${this.base}/connection/send`, body, { 'pulse-session': this.session, ...headers });
  }

  /** Waits for a frame `match` accepts among those received (old ones included). */
  async frame(match: (f: Frame) => boolean, timeoutMs = 5000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (let n = 1; ; n++) {
      const seen = await this.frames.waitFor(n, Math.max(1, deadline - Date.now()));
      const found = seen.slice(n - 1).find(match);
      if (found) return found;
    }
  }

  /** The client goes away: its socket closes. */
  close(): void {
    this.req.destroy();
  }
}

export interface Answer {
  status: number;
  body: string;
  headers: IncomingMessage['headers'];
}

/** One POST with its whole body; resolves with the answer (status 0 when the socket failed first). */
export function post(url: string, body: Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'POST', headers: { 'content-length': `${body.length}`, ...headers } });
    req.on('response', (res) => {
      let text = '';
      res.on('data', (c: Buffer) => {
        text += c.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
    });
    req.on('error', () => resolve({ status: 0, body: '', headers: {} }));
    req.end(body);
  });
}

/**
 * A POST whose body is written in `parts`, `gapMs` apart, without a content-length (chunked);
 * resolves with the answer, or status 0 when the socket failed before one.
 */
export function dribble(
  url: string,
  parts: Buffer[],
  gapMs: number,
  headers: Record<string, string> = {},
): { answer: Promise<Answer>; req: ClientRequest } {
  const req = request(url, { method: 'POST', headers });
  const answer = new Promise<Answer>((resolve) => {
    req.on('response', (res) => {
      let text = '';
      res.on('data', (c: Buffer) => {
        text += c.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
    });
    req.on('error', () => resolve({ status: 0, body: '', headers: {} }));
  });
  req.flushHeaders();
  void (async () => {
    for (const part of parts) {
      if (req.destroyed) return;
      req.write(part);
      await new Promise((r) => setTimeout(r, gapMs));
    }
    if (!req.destroyed) req.end();
  })();
  return { answer, req };
}
