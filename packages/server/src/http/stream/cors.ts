import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';

/**
 * CORS for the HTTP streaming endpoints (transport.http_stream_origins): a request from a
 * listed origin (or any, with "*") gets the headers that let its page read the answer and
 * the `Pulse-Session` header; others get none, so a browser keeps the answer from the page.
 */
export class CorsPolicy {
  private readonly any: boolean;
  private readonly origins: ReadonlySet<string>;

  constructor(origins: readonly string[]) {
    this.any = origins.includes('*');
    this.origins = new Set(origins);
  }

  /** Headers for the answer to `req`; empty when its origin is not allowed (or it sent none). */
  headers(req: IncomingMessage): OutgoingHttpHeaders {
    const origin = req.headers.origin;
    if (origin === undefined || !(this.any || this.origins.has(origin))) return {};
    return {
      'access-control-allow-origin': this.any ? '*' : origin,
      'access-control-expose-headers': 'pulse-session',
      vary: 'origin',
    };
  }

  /** The answer headers of a preflight (OPTIONS), or undefined when its origin is not allowed. */
  preflight(req: IncomingMessage): OutgoingHttpHeaders | undefined {
    const headers = this.headers(req);
    if (headers['access-control-allow-origin'] === undefined) return undefined;
    return {
      ...headers,
      'access-control-allow-methods': 'GET, POST',
      'access-control-allow-headers': 'content-type, pulse-session',
      'access-control-max-age': '600',
    };
  }
}
