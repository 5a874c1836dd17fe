import { ErrorCode, MAX_HEADER_SIZE, encodeFrame } from '@pulse/protocol';
import type { Frame } from '@pulse/protocol';
import { ADMISSION_REFUSAL_MESSAGES, type AdmissionRefusal } from '../limits/admission-refusal.js';
import type { ConnectionLimiter } from '../limits/connection-limiter.js';
import type { Connection } from '../transport/connection.js';
import type { NativeStats } from './native-stats.js';

/**
 * The native way to refuse a connection at admission (docs/SECURITY.md, "Rate limiting"):
 * error 1010 ConnectionClosed when the server drains, else 1006 RateLimited, id 0, then the
 * close (WebSocket close 1013). The connection never got a session.
 */
export function refuseNativeConnection(
  connection: Connection,
  refusal: AdmissionRefusal,
  stats: NativeStats,
): void {
  const message = ADMISSION_REFUSAL_MESSAGES[refusal];
  const code = refusal === 'draining' ? ErrorCode.ConnectionClosed : ErrorCode.RateLimited;
  stats.countError(code);
  const frame = encodeFrame({ type: 'error', id: 0, code, message }, MAX_HEADER_SIZE);
  connection.enqueue(connection.wrapNative(frame), false);
  connection.close('overloaded', message);
}

/** What the native refusal of a request needs of its session. */
export interface NativeErrorSender {
  readonly connection: Connection;
  sendError(id: number, code: number, message: string): void;
}

/**
 * The native way to refuse a request over a rate limit (ping and pong never are): error 1006
 * with the frame's id instead of handling it; the last one allowed in a row also closes.
 * True when the frame was refused and must not be handled.
 */
export function nativeRateLimited(session: NativeErrorSender, frame: Frame): boolean {
  if (frame.type === 'ping' || frame.type === 'pong') return false;
  const limiter = session.connection.limiter as ConnectionLimiter;
  const verdict = limiter.verdict('native');
  if (verdict === undefined) return false;
  session.sendError((frame as { id?: number }).id ?? 0, ErrorCode.RateLimited, verdict.message);
  if (verdict.exhausted) {
    limiter.countDisconnect('native');
    session.connection.close('rate-limited', 'rate limited');
  }
  return true;
}
