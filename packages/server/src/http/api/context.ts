import type { Broker } from '@pulse/core';
import type { ChannelOperations } from '../../channels/channel-operations.js';
import type { ClusterApi } from '../../cluster/cluster-api.js';
import type { Logger } from '../../log.js';
import type { ClientMatch } from '../../transport/connection.js';

/** What the HTTP API works with: the shared router and a few server operations. */
export interface ApiContext {
  readonly broker: Broker;
  /** Publishing, history and presence reads, as every protocol does them. */
  readonly channels: ChannelOperations;
  /** `auth.api_keys`. */
  readonly apiKeys: readonly string[];
  /** limits.max_message_size: the most bytes a published `data` may have as JSON text. */
  readonly maxMessageSize: number;
  readonly log: Logger;
  /** Closes the matching client connections of every protocol; returns how many. */
  disconnectClients(match: ClientMatch, reason: string): number;
  /** With `[cluster]`: the listing and disconnects of every node (cluster/cluster-api.ts). */
  readonly cluster?: ClusterApi;
  isDraining(): boolean;
}

/** Bodies up to twice the payload limit (room for escapes and spaces) plus 64 KiB for the rest. */
export const maxBodyBytes = (ctx: ApiContext): number => 2 * ctx.maxMessageSize + 64 * 1024;
