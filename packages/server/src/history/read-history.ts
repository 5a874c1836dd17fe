import {
  type ChannelHistory,
  type HistoryPage,
  type Refusal,
  type StreamPosition,
  checkPublishChannel,
} from '@pulse/core';
import { DEFAULT_HISTORY_LIMIT, ErrorCode } from '@pulse/protocol';

/**
 * A page of `channel`'s history, the same for every protocol: a Refusal for a malformed
 * channel name, undefined when the channel keeps no history (a reserved `$` channel never
 * does), else the page: the newest `limit` without `since`, the oldest `limit` after it with.
 */
export function readHistory(
  history: ChannelHistory | undefined,
  channel: string,
  since: StreamPosition | undefined,
  limit: number | undefined,
): HistoryPage | Refusal | undefined {
  const invalid = checkPublishChannel(channel);
  if (invalid) return invalid.code === ErrorCode.Forbidden ? undefined : invalid;
  return history?.read(channel, { since, limit: limit ?? DEFAULT_HISTORY_LIMIT }, Date.now());
}
