import type { LatencySamples } from './marker.js';
import type { MessageSink } from './ws-frames.js';

/** Counts shared by every connection of one generator process. */
export interface Tally {
  /** Publications received by all connections. */
  delivered: number;
  /** Connections the server closed after they were ready. */
  closed: number;
}

export type Role = 'subscriber' | 'publisher';

/** What a dialect may do with a connection. */
export interface DialectConn {
  readonly role: Role;
  /** The channel a subscriber subscribes to, or the one a publisher publishes on. */
  readonly channel: string;
  /** Free for the dialect's setup state machine. */
  setupStep: number;
  /** Publications received on this connection. */
  count: number;
  /** Sends one masked WebSocket message. */
  sendMessage(opcode: number, payload: Buffer | string): void;
}

/**
 * How one target speaks over WebSocket: how to subscribe (or get ready to publish), how a
 * publication looks on the wire, and how to count deliveries without decoding them.
 */
export interface Dialect {
  readonly name: string;
  /** Request target of the upgrade request (path and query). */
  readonly path: string;
  /** The WebSocket is open: send whatever subscribing (or announcing a publisher) needs. */
  open(conn: DialectConn): void;
  /**
   * One whole message received before the connection is ready (setup is not a hot path, so it may
   * be decoded). Returns true once the connection is ready; throws when the server refused.
   */
  setupMessage(conn: DialectConn, message: Buffer): boolean;
  /** The sink that counts deliveries once the connection is ready; `samples` turns on latency sampling. */
  runSink(conn: DialectConn, tally: Tally, samples: LatencySamples | null): MessageSink;
  /** The WebSocket message a publisher sends to publish `payload` on `channel`. */
  publication(channel: string, payload: Buffer): { opcode: number; message: Buffer };
}
