import { type ClientTransport, Inlet } from './transport.js';

/** The part of `fetch` this transport uses (browsers' and Node 20's fit it). */
export type FetchLike = (url: string, init: FetchInit) => Promise<FetchResponse>;

interface FetchInit {
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: Uint8Array;
  signal?: AbortSignal;
  cache?: 'no-store';
  credentials?: 'omit' | 'same-origin' | 'include';
}

interface FetchResponse {
  readonly ok: boolean;
  readonly status: number;
  readonly headers: { get(name: string): string | null };
  readonly body: {
    getReader(): { read(): Promise<{ done: boolean; value?: Uint8Array }> };
  } | null;
  text(): Promise<string>;
}

export interface HttpStreamOptions {
  /**
   * `binary` (default): `GET /connection/stream`, length-prefixed frames as over TCP;
   * `sse`: `GET /connection/sse`, one Server-Sent Event a frame (what some proxies pass best).
   */
  format?: 'binary' | 'sse';
  /** The `fetch` to use; by default the global one. */
  fetch?: FetchLike;
  /**
   * Sent with every request (the stream and each POST). Across origins the server's CORS
   * preflight allows `authorization` (e.g. for a gateway in front of it) and no other header.
   */
  headers?: Record<string, string>;
  /** Browsers: whether cookies go with the requests (fetch's `credentials`). */
  credentials?: 'omit' | 'same-origin' | 'include';
  /** Largest POST body this client sends; keep it within the server's limits.max_http_body_bytes. */
  maxBodyBytes?: number;
  /**
   * Gives the opening up (the GET is aborted and the promise rejects); once open, the session
   * is the transport's to close. `Pulse` hands its factories one (TransportFactory).
   */
  signal?: AbortSignal;
}

const SESSION_HEADER = 'pulse-session';
const DEFAULT_MAX_BODY_BYTES = 1_048_576;

/**
 * Opens the HTTP streaming transport at `url`, the server's HTTP base URL (`http://host:8080`,
 * or a proxy's prefix): frames from the server arrive on one long GET response, frames to it
 * go in POSTs naming the session, one at a time in order, batching what was sent meanwhile.
 * Resolves once the stream is open and its session known; `PulseClient.over` runs on it.
 */
export async function openHttpStream(url: string, options: HttpStreamOptions = {}): Promise<ClientTransport> {
  const globalFetch = (globalThis as { fetch?: FetchLike }).fetch;
  // Bound: HttpLink calls it as a method of its own, and browsers' fetch throws "Illegal
  // invocation" unless called on the window.
  const fetchFn = options.fetch ?? globalFetch?.bind(globalThis);
  if (!fetchFn) throw new Error('no fetch implementation: pass options.fetch');
  const base = url.replace(/\/+$/, '');
  const sse = options.format === 'sse';
  const aborter = new AbortController();
  const giveUp = () => aborter.abort();
  options.signal?.addEventListener('abort', giveUp, { once: true });
  try {
    if (options.signal?.aborted) throw new Error('the opening of the HTTP stream was aborted');
    const res = await fetchFn(`${base}/connection/${sse ? 'sse' : 'stream'}`, {
      method: 'GET',
      headers: { ...options.headers, accept: sse ? 'text/event-stream' : 'application/octet-stream' },
      signal: aborter.signal,
      cache: 'no-store',
      credentials: options.credentials,
    });
    if (!res.ok || res.body === null) {
      throw new Error(`cannot open the HTTP stream at ${base}: HTTP ${res.status} ${await res.text()}`);
    }
    const link = new HttpLink(fetchFn, `${base}/connection/send`, aborter, options);
    const reader = res.body.getReader();
    const decode = sse ? new SseDecoder(link) : undefined;
    const header = res.headers.get(SESSION_HEADER);
    if (header !== null) link.sessionId = header;
    // Without the header (a proxy dropped it), an SSE stream says its session in its first event.
    while (link.sessionId === undefined) {
      const { done, value } = await reader.read();
      if (done || decode === undefined) throw new Error('the HTTP stream names no session');
      if (value) decode.push(value);
    }
    void link.pump(reader, decode);
    return link.transport;
  } catch (err) {
    // Not left open: the server would keep the session until its heartbeat timeout.
    aborter.abort();
    throw err;
  } finally {
    options.signal?.removeEventListener('abort', giveUp);
  }
}

/** One session: the stream read into the inlet, the sends posted in order. */
class HttpLink {
  sessionId: string | undefined;
  readonly inlet = new Inlet();
  private readonly queue: Uint8Array[] = [];
  private posting = false;
  private closed = false;
  private readonly maxBodyBytes: number;
  readonly transport: ClientTransport = {
    send: (bytes) => this.send(bytes),
    close: () => this.end(1000, 'closed by the client'),
    attach: (onBytes, onClose) => this.inlet.attach(onBytes, onClose),
  };

  constructor(
    private readonly fetchFn: FetchLike,
    private readonly sendUrl: string,
    private readonly aborter: AbortController,
    private readonly options: HttpStreamOptions,
  ) {
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  }

  async pump(
    reader: { read(): Promise<{ done: boolean; value?: Uint8Array }> },
    decode: SseDecoder | undefined,
  ): Promise<void> {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (value === undefined || this.closed) continue;
        if (decode) decode.push(value);
        else this.inlet.bytes(value);
      }
      this.end(1000, 'stream closed by the server');
    } catch {
      this.end(1006, 'stream failed');
    }
  }

  private send(bytes: Uint8Array): void {
    if (this.closed) return;
    this.queue.push(bytes);
    if (!this.posting) void this.post();
  }

  /** Posts what is queued, one POST at a time so that the server reads them in order. */
  private async post(): Promise<void> {
    this.posting = true;
    try {
      while (this.queue.length > 0 && !this.closed) {
        const body = this.takeBatch();
        const res = await this.fetchFn(this.sendUrl, {
          method: 'POST',
          headers: {
            ...this.options.headers,
            'content-type': 'application/octet-stream',
            [SESSION_HEADER]: this.sessionId as string,
          },
          body,
          // Ended with the transport: a POST the network stalled would otherwise hold its
          // socket until fetch's own timeout (minutes in Node).
          signal: this.aborter.signal,
          credentials: this.options.credentials,
        });
        if (!res.ok) {
          // What the server did not take is lost: this session cannot go on in order.
          this.end(1006, `POST refused: HTTP ${res.status} ${await res.text()}`);
          return;
        }
      }
    } catch {
      this.end(1006, 'POST failed');
    } finally {
      this.posting = false;
    }
  }

  /** Whole frames from the front of the queue, up to maxBodyBytes (at least one). */
  private takeBatch(): Uint8Array {
    let size = 0;
    let count = 0;
    for (const bytes of this.queue) {
      if (count > 0 && size + bytes.length > this.maxBodyBytes) break;
      size += bytes.length;
      count++;
    }
    const parts = this.queue.splice(0, count);
    if (parts.length === 1) return parts[0] as Uint8Array;
    const body = new Uint8Array(size);
    let at = 0;
    for (const part of parts) {
      body.set(part, at);
      at += part.length;
    }
    return body;
  }

  end(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    // Ends the GET (the server sees its socket close and ends the session) and any POST.
    this.aborter.abort();
    this.inlet.close(code, reason);
  }
}

/**
 * Server-Sent Events to native frames: each `data:` line is a frame's MessagePack body in
 * base64, handed on with its length prefix so that the client reads it as from any transport.
 */
class SseDecoder {
  private readonly text = new TextDecoder();
  private line = '';
  private event = '';
  private data = '';

  constructor(private readonly link: HttpLink) {}

  push(chunk: Uint8Array): void {
    const lines = (this.line + this.text.decode(chunk, { stream: true })).split('\n');
    this.line = lines.pop() ?? '';
    for (const raw of lines) this.onLine(raw.endsWith('\r') ? raw.slice(0, -1) : raw);
  }

  private onLine(line: string): void {
    if (line === '') return this.dispatch();
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? '' : line.slice(colon + (line[colon + 1] === ' ' ? 2 : 1));
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data += value;
  }

  private dispatch(): void {
    const event = this.event;
    const data = this.data;
    this.event = '';
    this.data = '';
    if (event === 'session') {
      this.link.sessionId ??= data;
      return;
    }
    if (event !== '' || data === '') return;
    const binary = atob(data);
    const framed = new Uint8Array(4 + binary.length);
    new DataView(framed.buffer).setUint32(0, binary.length);
    for (let i = 0; i < binary.length; i++) framed[4 + i] = binary.charCodeAt(i);
    this.link.inlet.bytes(framed);
  }
}
