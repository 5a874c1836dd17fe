import type { Broker, Publication } from '@pulse/core';
import type { Logger } from '../../log.js';
import type { ClientMatch } from '../../transport/connection.js';

/** What the HTTP API works with: the shared router and a few server operations. */
export interface ApiContext {
  readonly broker: Broker;
  /** `auth.api_keys`. */
  readonly apiKeys: readonly string[];
  /** limits.max_message_size: the most bytes a published `data` may have as JSON text. */
  readonly maxMessageSize: number;
  readonly log: Logger;
  /** Tells the write path a publication reached subscribers (publish latency, storage). */
  notePublication(publication: Publication): void;
  /**
   * Commits what the store holds (history) before an answer acknowledges it, as the write
   * path does before its acknowledgements (strict and balanced policies); throws when the
   * store has failed.
   */
  commit(): void;
  /** Closes the matching client connections of every protocol; returns how many. */
  disconnectClients(match: ClientMatch, reason: string): number;
  isDraining(): boolean;
}

/** Bodies up to twice the payload limit (room for escapes and spaces) plus 64 KiB for the rest. */
export const maxBodyBytes = (ctx: ApiContext): number => 2 * ctx.maxMessageSize + 64 * 1024;
