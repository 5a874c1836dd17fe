import { isWildcardFilter } from './channel.js';
import type { Subscriber } from './subscriber.js';
import { WildcardTrie } from './wildcard-trie.js';

const EMPTY: readonly Subscriber[] = [];

export function isSingle(targets: Subscriber | Iterable<Subscriber>): targets is Subscriber {
  return !(targets instanceof Set) && !Array.isArray(targets);
}
const MATCH_CACHE_LIMIT = 4096;
/**
 * Longer channels are matched every time rather than cached: MQTT topics may be 64 KiB, and
 * 4096 of them as keys would hold 256 MiB. This keeps the keys under 4 MiB.
 */
const MATCH_CACHE_LONGEST = 1024;

/**
 * Who receives a message on a channel. Exact filters are one Map lookup; wildcard filters
 * live in a trie whose results are cached per channel (merged with the exact subscribers,
 * each subscriber once) and invalidated on every change that could alter them.
 */
export class TopicIndex {
  /** A channel's only subscriber is stored as itself; a Set appears from the second one on. */
  private readonly exact = new Map<string, Subscriber | Set<Subscriber>>();
  private readonly wildcards = new WildcardTrie();
  private readonly wildcardFilters = new Map<string, number>();
  private readonly cache = new Map<string, readonly Subscriber[]>();

  /** Distinct filters with at least one subscriber. */
  get filterCount(): number {
    return this.exact.size + this.wildcardFilters.size;
  }

  hasFilter(filter: string): boolean {
    return this.exact.has(filter) || this.wildcardFilters.has(filter);
  }

  add(filter: string, subscriber: Subscriber): void {
    if (isWildcardFilter(filter)) {
      if (!this.wildcards.add(filter, subscriber)) return;
      this.wildcardFilters.set(filter, (this.wildcardFilters.get(filter) ?? 0) + 1);
      this.cache.clear();
      return;
    }
    const held = this.exact.get(filter);
    if (held === undefined) this.exact.set(filter, subscriber);
    else if (held instanceof Set) held.add(subscriber);
    else if (held !== subscriber) this.exact.set(filter, new Set([held, subscriber]));
    this.cache.delete(filter);
  }

  remove(filter: string, subscriber: Subscriber): void {
    if (isWildcardFilter(filter)) {
      if (!this.wildcards.remove(filter, subscriber)) return;
      const left = (this.wildcardFilters.get(filter) ?? 1) - 1;
      if (left === 0) this.wildcardFilters.delete(filter);
      else this.wildcardFilters.set(filter, left);
      this.cache.clear();
      return;
    }
    const held = this.exact.get(filter);
    if (held === undefined) return;
    if (held instanceof Set) {
      held.delete(subscriber);
      if (held.size === 1) this.exact.set(filter, held.values().next().value as Subscriber);
    } else if (held === subscriber) this.exact.delete(filter);
    this.cache.delete(filter);
  }

  /**
   * Subscribers of `channel`, each once. A lone subscriber comes back as itself, so that a
   * channel with one subscriber costs no allocation per message. Iterate it at once: it may
   * be a live set.
   */
  targetsOf(channel: string): Subscriber | Iterable<Subscriber> | undefined {
    if (this.wildcards.size === 0) return this.exact.get(channel);
    const cached = this.cache.get(channel);
    if (cached) return cached;
    const held = this.exact.get(channel);
    const unique = new Set<Subscriber>(held === undefined ? EMPTY : isSingle(held) ? [held] : held);
    this.wildcards.match(channel, (s) => unique.add(s));
    const list = unique.size === 0 ? EMPTY : [...unique];
    if (channel.length > MATCH_CACHE_LONGEST) return list;
    if (this.cache.size >= MATCH_CACHE_LIMIT) this.cache.clear();
    this.cache.set(channel, list);
    return list;
  }

  /** Exact channels with how many subscribers hold each (a shared group counts as one). */
  *exactCounts(): IterableIterator<[string, number]> {
    for (const [channel, held] of this.exact) yield [channel, held instanceof Set ? held.size : 1];
  }

  /** Wildcard filters with how many subscribers hold each (a shared group counts as one). */
  wildcardCounts(): IterableIterator<[string, number]> {
    return this.wildcardFilters.entries();
  }
}
