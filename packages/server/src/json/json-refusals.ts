import type { ConnectionLimiter } from '../limits/connection-limiter.js';
import type { WsConnection } from '../transport/ws-connection.js';
import { JsonCode, type JsonId } from './json-messages.js';

/** What the JSON refusal of a request needs of its session. */
export interface JsonErrorSender {
  readonly connection: WsConnection;
  sendError(id: JsonId | null, code: number, message: string): void;
  /** The `disconnect` push (the caller closes). */
  sendDisconnect(reason: string): void;
}

/**
 * The JSON way to refuse a request over a rate limit (`ping` never is; docs/SECURITY.md,
 * "Rate limiting"): error 429 instead of handling it; the last one allowed in a row is followed
 * by the `disconnect` push and the close. True when the request was refused.
 */
export function jsonRateLimited(session: JsonErrorSender, method: string, id: JsonId): boolean {
  if (method === 'ping') return false;
  const limiter = session.connection.limiter as ConnectionLimiter;
  const verdict = limiter.verdict('json');
  if (verdict === undefined) return false;
  session.sendError(id, JsonCode.TooMany, verdict.message);
  if (verdict.exhausted) {
    limiter.countDisconnect('json');
    session.sendDisconnect('rate limited');
    session.connection.close('rate-limited', 'rate limited');
  }
  return true;
}
