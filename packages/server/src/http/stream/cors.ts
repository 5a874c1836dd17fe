import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';

/**
 * The request headers a cross-origin page may send: what the SDK sends itself (`accept`,
 * `content-type`, `pulse-session`) and `authorization`, the one its `headers` option is
 * documented for (a proxy or gateway in front of the server that checks it).
 */
const ALLOWED_REQUEST_HEADERS = 'accept, authorization, content-type, pulse-session';

/**
 * CORS for the HTTP streaming endpoints (transport.http_stream_origins): a request from a
 * listed origin (or any, with "*") gets the headers that let its page read the answer and
 * the `Pulse-Session` header; others get none, so a browser keeps the answer from the page.
 * Only an origin listed by name may send cookies (`credentials: 'include'`): one allowed by
 * "*" could be any site, riding on a signed-in user's cookies.
 */
export class CorsPolicy {
  private readonly any: boolean;
  private readonly origins: ReadonlySet<string>;

  constructor(origins: readonly string[]) {
    this.any = origins.includes('*');
    this.origins = new Set(origins.filter((o) => o !== '*'));
  }

  /** Headers for the answer to `req`; only `Vary` when its origin is not allowed (or it sent none). */
  headers(req: IncomingMessage): OutgoingHttpHeaders {
    // The answer depends on Origin whenever any is allowed: a cache must not hand one
    // origin's answer (with or without these headers) to another.
    const vary: OutgoingHttpHeaders = this.any || this.origins.size > 0 ? { vary: 'origin' } : {};
    const origin = req.headers.origin;
    if (origin === undefined) return vary;
    if (this.origins.has(origin)) {
      return {
        ...vary,
        'access-control-allow-origin': origin,
        'access-control-allow-credentials': 'true',
        'access-control-expose-headers': 'pulse-session',
      };
    }
    if (!this.any) return vary;
    return { ...vary, 'access-control-allow-origin': '*', 'access-control-expose-headers': 'pulse-session' };
  }

  /** The answer headers of a preflight (OPTIONS), or undefined when its origin is not allowed. */
  preflight(req: IncomingMessage): OutgoingHttpHeaders | undefined {
    const headers = this.headers(req);
    if (headers['access-control-allow-origin'] === undefined) return undefined;
    return {
      ...headers,
      'access-control-allow-methods': 'GET, POST',
      'access-control-allow-headers': ALLOWED_REQUEST_HEADERS,
      'access-control-max-age': '600',
    };
  }
}
