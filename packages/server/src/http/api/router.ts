import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError, type ApiReply, errorBody } from './api-error.js';
import { ApiKeys, type KeyCheck } from './api-keys.js';
import type { ApiContext } from './context.js';
import * as handlers from './handlers.js';

interface Route {
  readonly method: 'GET' | 'POST';
  /** The whole path, or with `param` the part before `:channel`. */
  readonly path: string;
  readonly param?: true;
  /** The `route` label of `pulse_api_requests_total`. */
  readonly label: string;
  readonly handler: handlers.ApiHandler;
}

const ROUTES: readonly Route[] = [
  { method: 'POST', path: '/api/publish', label: '/api/publish', handler: handlers.publish },
  { method: 'POST', path: '/api/broadcast', label: '/api/broadcast', handler: handlers.broadcast },
  { method: 'GET', path: '/api/channels', label: '/api/channels', handler: handlers.channels },
  {
    method: 'GET',
    path: '/api/presence/',
    param: true,
    label: '/api/presence/:channel',
    handler: handlers.presence,
  },
  {
    method: 'GET',
    path: '/api/history/',
    param: true,
    label: '/api/history/:channel',
    handler: handlers.history,
  },
  { method: 'POST', path: '/api/disconnect', label: '/api/disconnect', handler: handlers.disconnect },
];

const KEY_PROBLEMS: Record<Exclude<KeyCheck, 'ok'>, string> = {
  'not-configured': 'the server API is closed: no API keys are configured (auth.api_keys)',
  missing: 'missing x-api-key header',
  invalid: 'invalid API key',
};

/** The route a path names, with its raw (still percent-encoded) `:channel`. */
function find(path: string): { route: Route; rawChannel: string } | undefined {
  for (const route of ROUTES) {
    if (route.param ? path.startsWith(route.path) : path === route.path) {
      return { route, rawChannel: route.param ? path.slice(route.path.length) : '' };
    }
  }
  return undefined;
}

function decodeChannel(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new ApiError(400, 'channel in the path is not valid percent-encoded UTF-8');
  }
}

/**
 * The server API under `/api/` (docs/HTTP-API.md): the API key first (every request, known
 * route or not), then the route and method, then the handler. Every answer is JSON; nothing
 * a client sends can make it throw past here.
 */
export function createApiHandler(
  ctx: ApiContext,
  /** pulse_api_requests_total, counted by `<route>|<status>`. */
  requests: Map<string, number>,
): (req: IncomingMessage, res: ServerResponse) => void {
  const keys = new ApiKeys(ctx.apiKeys);

  const handle = async (req: IncomingMessage, path: string, queryText: string): Promise<ApiReply> => {
    if (ctx.isDraining()) throw new ApiError(503, 'server shutting down');
    const key = keys.check(req.headers['x-api-key']);
    if (key !== 'ok') throw new ApiError(401, KEY_PROBLEMS[key]);
    const found = find(path);
    if (!found) throw new ApiError(404, `no such API endpoint: ${path}`);
    const { route, rawChannel } = found;
    if (req.method !== route.method) {
      throw new ApiError(405, `${route.label} accepts ${route.method} only`, { allow: route.method });
    }
    const channel = route.param ? decodeChannel(rawChannel) : '';
    return route.handler(ctx, { req, query: new URLSearchParams(queryText), channel });
  };

  return (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const label = find(path)?.route.label ?? 'unknown';
    const send = (status: number, body: string, headers: Record<string, string> = {}): void => {
      const key = `${label}|${status}`;
      requests.set(key, (requests.get(key) ?? 0) + 1);
      if (res.headersSent || res.destroyed) return;
      // Answered before the end of the body (refused unread, or over the size limit): stop
      // reading it, and close the connection, which cannot carry another request.
      const unread = !req.complete;
      if (unread) req.pause();
      res.writeHead(status, {
        ...headers,
        ...(unread ? { connection: 'close' } : {}),
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'cache-control': 'no-store',
      });
      res.end(body);
    };
    handle(req, path, q === -1 ? '' : url.slice(q + 1)).then(
      (reply) => send(reply.status, reply.body),
      (err: unknown) => {
        if (err instanceof ApiError) return send(err.status, errorBody(err.status, err.message), err.headers);
        ctx.log.error({ err, path }, 'server API request failed');
        send(500, errorBody(500, 'internal error'));
      },
    );
  };
}
