/** An error frame from the server, or a local failure with a Pulse error code. */
export class PulseError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'PulseError';
  }
}

/** Why the reconnecting client (`Pulse`) refused or gave up a request. */
export type ClientErrorKind =
  /** Not connected, and `offline: 'fail'` (or the request cannot wait for a connection). */
  | 'offline'
  /** `offline: 'queue'` and `maxOfflineQueue` publishes are already waiting. */
  | 'queue_full'
  /** `close()` was called, or the client stopped for good (terminal refusal, attempts exhausted). */
  | 'closed'
  /** The connection dropped while the request was on the wire: it may or may not have been applied. */
  | 'disconnected'
  /** No connection came within `requestTimeoutMs`. */
  | 'timeout'
  /** `subscribe()` on a subscription given to `removeSubscription()`: make a new one. */
  | 'removed';

const CODE_OF: Record<ClientErrorKind, number> = {
  offline: 1010,
  queue_full: 1006,
  closed: 1010,
  disconnected: 1010,
  timeout: 1000,
  removed: 1008,
};

/** A local refusal of the reconnecting client; `kind` says which, `code` is the nearest Pulse code. */
export class PulseClientError extends PulseError {
  constructor(
    readonly kind: ClientErrorKind,
    message: string,
  ) {
    super(CODE_OF[kind], message);
    this.name = 'PulseClientError';
  }
}
