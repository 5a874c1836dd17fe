import { ErrorCode, type Frame } from '@pulse/protocol';
import type { JsonId } from '../json/json-messages.js';
import type { JsonStats } from '../json/json-stats.js';
import type { NativeSession } from '../native/native-session.js';
import type { WsConnection } from '../transport/ws-connection.js';
import type { ConnectionLimiter } from './connection-limiter.js';

/**
 * What the native and JSON protocols tell a client over limits.messages_per_second or
 * limits.bytes_per_second (docs/SECURITY.md, "Rate limiting"; MQTT answers in
 * mqtt/mqtt-rate-limited.ts). Each function is called by its
 * protocol only when the connection has a limiter (a rate limit is on), before the message is
 * handled; `true` means the message was refused and must not be handled.
 */

/** JSON protocol code of a rate-limited request (docs/PROTOCOL.md, "JSON protocol"). */
const JSON_TOO_MANY = 429;

function closingText(limiter: ConnectionLimiter, limit: 'messages' | 'bytes'): string {
  return `rate limited (${limiter.describe(limit)}) too many times in a row: closing`;
}

/** Native frames but ping and pong: error 1006 instead of handling; the last one in a row also closes. */
export function nativeRateLimited(session: NativeSession, frame: Frame): boolean {
  if (frame.type === 'ping' || frame.type === 'pong') return false;
  const connection = session.connection;
  const limiter = connection.limiter as ConnectionLimiter;
  const limit = limiter.admit();
  if (limit === undefined) return false;
  limiter.countLimited('native', limit);
  const id = (frame as { id?: number }).id ?? 0;
  if (!limiter.exhausted) {
    session.sendError(id, ErrorCode.RateLimited, `rate limited: ${limiter.describe(limit)}`);
    return true;
  }
  limiter.countDisconnect('native');
  session.sendError(id, ErrorCode.RateLimited, closingText(limiter, limit));
  connection.close('rate-limited', 'rate limited');
  return true;
}

/** JSON requests but ping: error 429 instead of handling; the last one in a row also closes. */
export function jsonRateLimited(
  connection: WsConnection,
  stats: JsonStats,
  method: string,
  id: JsonId,
): boolean {
  if (method === 'ping') return false;
  const limiter = connection.limiter as ConnectionLimiter;
  const limit = limiter.admit();
  if (limit === undefined) return false;
  limiter.countLimited('json', limit);
  stats.countError(JSON_TOO_MANY);
  const exhausted = limiter.exhausted;
  const message = exhausted ? closingText(limiter, limit) : `rate limited: ${limiter.describe(limit)}`;
  connection.sendText(JSON.stringify({ id, error: { code: JSON_TOO_MANY, message } }));
  if (exhausted) {
    limiter.countDisconnect('json');
    connection.sendText(JSON.stringify({ method: 'disconnect', params: { reason: 'rate limited' } }));
    connection.close('rate-limited', 'rate limited');
  }
  return true;
}
