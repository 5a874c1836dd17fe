import { isWildcardFilter } from './channel.js';
import type { Subscriber } from './subscriber.js';
import { WildcardTrie } from './wildcard-trie.js';

const EMPTY: readonly Subscriber[] = [];
const MATCH_CACHE_LIMIT = 4096;

/**
 * Who receives a message on a channel. Exact filters are one Map lookup; wildcard filters
 * live in a trie whose results are cached per channel (merged with the exact subscribers,
 * each subscriber once) and invalidated on every change that could alter them.
 */
export class TopicIndex {
  private readonly exact = new Map<string, Set<Subscriber>>();
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
    let set = this.exact.get(filter);
    if (!set) {
      set = new Set();
      this.exact.set(filter, set);
    }
    set.add(subscriber);
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
    const set = this.exact.get(filter);
    if (!set) return;
    set.delete(subscriber);
    if (set.size === 0) this.exact.delete(filter);
    this.cache.delete(filter);
  }

  /** Subscribers of `channel`, each once. Iterate it at once: it may be a live set. */
  subscribersOf(channel: string): Iterable<Subscriber> {
    if (this.wildcards.size === 0) return this.exact.get(channel) ?? EMPTY;
    const cached = this.cache.get(channel);
    if (cached) return cached;
    const unique = new Set<Subscriber>(this.exact.get(channel));
    this.wildcards.match(channel, (s) => unique.add(s));
    const list = unique.size === 0 ? EMPTY : [...unique];
    if (this.cache.size >= MATCH_CACHE_LIMIT) this.cache.clear();
    this.cache.set(channel, list);
    return list;
  }

  /** Channels with exact subscribers (for listings). */
  exactChannels(): IterableIterator<string> {
    return this.exact.keys();
  }

  wildcardFilterNames(): IterableIterator<string> {
    return this.wildcardFilters.keys();
  }
}
