import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { NativeStats } from '../../native/native-stats.js';
import type { Connection, ConnectionEnv } from '../../transport/connection.js';
import { answer } from './answer.js';
import { CorsPolicy } from './cors.js';
import { type HttpStreamFormat, HttpStreamConnection } from './http-stream-connection.js';
import { HTTP_STREAM_PATHS, SESSION_HEADER } from './paths.js';
import type { PostLimits } from './post-input.js';
import { newSessionId, sessionKey } from './session-ids.js';

export interface HttpStreamsContext {
  readonly envs: Readonly<Record<HttpStreamFormat, ConnectionEnv>>;
  readonly limits: PostLimits;
  /** transport.http_stream_origins */
  readonly origins: readonly string[];
  readonly nativeStats: NativeStats;
  /** Admits the connection and starts its native session, as for a WebSocket. */
  open(connection: Connection): void;
}

/**
 * With server.workers other than 1, the endpoints answer this: a session lives in the worker
 * that took its GET, and its POSTs may be taken by any other.
 */
export function httpStreamsUnavailable(req: IncomingMessage, res: ServerResponse): void {
  req.resume();
  answer(res, {}, 501, 'HTTP streaming is not served with server.workers other than 1', true);
}

/** The HTTP streaming endpoints and the sessions open on them, by the hash of their id. */
export class HttpStreams {
  private readonly sessions = new Map<string, HttpStreamConnection>();
  private readonly cors: CorsPolicy;

  constructor(private readonly ctx: HttpStreamsContext) {
    this.cors = new CorsPolicy(ctx.origins);
  }

  get size(): number {
    return this.sessions.size;
  }

  handle(req: IncomingMessage, res: ServerResponse, path: string, query: string): void {
    if (req.method === 'OPTIONS') return this.preflight(req, res);
    const headers = this.cors.headers(req);
    const format =
      path === HTTP_STREAM_PATHS.stream ? 'http_stream' : path === HTTP_STREAM_PATHS.sse ? 'sse' : undefined;
    if (format === undefined && path !== HTTP_STREAM_PATHS.send) {
      return answer(res, headers, 404, `no HTTP streaming endpoint at ${path}`, true);
    }
    const method = format === undefined ? 'POST' : 'GET';
    if (req.method !== method) {
      return answer(res, { ...headers, allow: method }, 405, `${path} takes ${method}`, true);
    }
    if (format !== undefined) return this.openStream(req, res, format, headers);
    const id = sessionIdOf(req, query);
    if (id === undefined) {
      return answer(res, headers, 400, `name the session in a ${SESSION_HEADER} header or ?session=`, true);
    }
    const key = sessionKey(id);
    const session = key === undefined ? undefined : this.sessions.get(key);
    if (session === undefined) return answer(res, headers, 404, 'no such session', true);
    session.post({ req, res, headers });
  }

  private openStream(
    req: IncomingMessage,
    res: ServerResponse,
    format: HttpStreamFormat,
    headers: OutgoingHttpHeaders,
  ): void {
    // Pipelined behind another request on its socket: its response would be written only
    // after that one ends (a stream never does), and Node tells a response waiting so nothing
    // when the socket closes, so its session would never end. A session owns its socket.
    if (res.socket === null) {
      return answer(res, headers, 400, 'a stream request must not be pipelined behind another', true);
    }
    const ctx = this.ctx;
    const id = newSessionId();
    const key = sessionKey(id) as string; // a new id always has the shape
    const connection = new HttpStreamConnection(
      format,
      id,
      req,
      res,
      ctx.envs[format],
      ctx.limits,
      ctx.nativeStats,
      headers,
    );
    this.sessions.set(key, connection);
    res.once('close', () => this.sessions.delete(key));
    ctx.open(connection);
  }

  private preflight(req: IncomingMessage, res: ServerResponse): void {
    const headers = this.cors.preflight(req);
    const refused = 'origin not allowed (transport.http_stream_origins)';
    if (headers === undefined) return answer(res, this.cors.headers(req), 403, refused, true);
    answer(res, headers, 204, '', false);
  }
}

function sessionIdOf(req: IncomingMessage, query: string): string | undefined {
  const header = req.headers[SESSION_HEADER];
  if (typeof header === 'string') return header;
  const fromQuery = new URLSearchParams(query).get('session');
  return fromQuery ?? undefined;
}
