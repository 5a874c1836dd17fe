import type { Subscriber } from '../src/subscriber.js';
import { type TopicIndex, isSingle } from '../src/topic-index.js';

/** The subscribers of `channel` as the broker reads them (targetsOf), as an array. */
export function subscribersOf(index: TopicIndex, channel: string): Subscriber[] {
  const targets = index.targetsOf(channel);
  return targets === undefined ? [] : isSingle(targets) ? [targets] : [...targets];
}

/** The exact channels with subscribers, as the broker's listing reads them (exactCounts). */
export const exactChannels = (index: TopicIndex): string[] =>
  [...index.exactCounts()].map(([channel]) => channel);

/** The wildcard filters with subscribers, as the broker's listing reads them (wildcardCounts). */
export const wildcardFilters = (index: TopicIndex): string[] =>
  [...index.wildcardCounts()].map(([filter]) => filter);
