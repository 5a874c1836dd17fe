import { PulseClientError, PulseError } from './errors.js';

/** Why the reconnecting client lost (or could not make) its connection. */
export type DisconnectReason =
  /** `close()` was called. */
  | 'closed'
  /** The transport failed to open or closed (socket error, server gone, network down). */
  | 'transport'
  /** Nothing arrived for the heartbeat plus the grace, and the client's own ping went unanswered. */
  | 'heartbeat_timeout'
  /** The transport opened but no `connected` came within `connectTimeoutMs`. */
  | 'connect_timeout'
  /** A request (e.g. a resubscribe) got no answer within `requestTimeoutMs`: the connection is replaced. */
  | 'request_timeout'
  /** The server said so before closing (error 1010: shutting down, heartbeat timeout, disconnected by the API). */
  | 'server_closed'
  /** 1011 from the server (e.g. the auth hook was unavailable): worth another attempt. */
  | 'server_error'
  /** The token expired (1003 `token expired`): the client fetches a new one and reconnects at once, once. */
  | 'token_expired'
  /** The server refused the token (1003 other than expiry, or expired twice in a row): terminal. */
  | 'unauthorized'
  /** The server speaks another protocol version (1012): terminal. */
  | 'protocol_mismatch'
  /** `maxReconnectAttempts` attempts in a row failed: terminal. */
  | 'max_attempts'
  /** `getToken()` failed (threw or rejected): tried again with the backoff. */
  | 'token_unavailable'
  /** The browser said the network is gone (`offline` event). */
  | 'offline';

/** Reasons after which the client stops for good (state `closed`). */
export const TERMINAL_REASONS: ReadonlySet<DisconnectReason> = new Set([
  'closed',
  'unauthorized',
  'protocol_mismatch',
  'max_attempts',
]);

export interface DisconnectInfo {
  reason: DisconnectReason;
  message: string;
  /** The server's error frame that said why, when there was one. */
  error?: PulseError;
}

const TOKEN_EXPIRED = 'token expired';

/** Reads a failure (a server error frame, a thrown error) as a reason. */
export function classify(err: unknown): DisconnectInfo {
  if (err instanceof PulseClientError) {
    return { reason: err.kind === 'timeout' ? 'connect_timeout' : 'transport', message: err.message };
  }
  if (err instanceof PulseError) {
    const info = { message: err.message, error: err };
    if (err.code === 1003) {
      return { reason: err.message === TOKEN_EXPIRED ? 'token_expired' : 'unauthorized', ...info };
    }
    if (err.code === 1012) return { reason: 'protocol_mismatch', ...info };
    if (err.code === 1011) return { reason: 'server_error', ...info };
    if (err.code === 1010) return { reason: 'server_closed', ...info };
  }
  return { reason: 'transport', message: err instanceof Error ? err.message : String(err) };
}
