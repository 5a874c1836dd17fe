import { heldBytes } from '../held-bytes.js';
import type { Publication } from '../outbound.js';
import type { HistoryRecord, StoredState, StreamRecord } from '../store/records.js';
import type { Store } from '../store/store.js';
import { ownedPublication, publicationOf, storedMessageOf } from '../store/stored-message.js';
import { type HistoryRule, HistoryRules } from './history-rules.js';

/** A position in a channel's stream, as clients hold it. */
export interface StreamPosition {
  offset: number;
  epoch: string;
}

/** One publication kept in a stream. */
export interface HistoryEntry {
  offset: number;
  /** Date.now() when it was published. */
  time: number;
  /** Date.now() at which it leaves history; undefined = only `size` pushes it out. */
  expiresAt: number | undefined;
  publication: Publication;
  /** What it counts towards the byte limits (heldBytes). */
  bytes: number;
}

export interface RecoveryResult {
  /** True when `publications` are exactly every publication after the client's position. */
  recovered: boolean;
  /** In offset order; empty when not recovered (the client must reload its state). */
  publications: Publication[];
  /** The stream's current position (offset of its newest publication). */
  offset: number;
  epoch: string;
}

export interface HistoryPage {
  /** In offset order, oldest first. */
  publications: Publication[];
  offset: number;
  epoch: string;
}

export interface HistoryReadOptions {
  /** Only publications after this position (when its epoch is the stream's). */
  since?: StreamPosition;
  /** At most this many: the oldest ones after `since`, or the newest ones without it. */
  limit?: number;
}

export interface ChannelHistoryOptions {
  /** Most streams kept; past it the least recently appended stream is dropped whole. */
  maxStreams: number;
  /**
   * Bytes (heldBytes) kept in all streams together; past it the oldest entries of the least
   * recently appended streams go first. Undefined = no limit.
   */
  maxTotalBytes?: number;
}

export interface HistoryRestoreOptions {
  /**
   * Gives every restored stream a new epoch (its entries keep their offsets), so that clients
   * holding a position of the old one get `recovered: false` and reload. For a store that may
   * have lost acknowledged writes: after a crash under `commit_policy = "fast"` a stream is
   * rolled back to its last commit, and its old epoch would hand out offsets clients have
   * already seen for other publications.
   */
  newEpochs?: boolean;
}

const isExpired = (entry: HistoryEntry, nowMs: number): boolean =>
  entry.expiresAt !== undefined && entry.expiresAt <= nowMs;

/** A fresh epoch: different for every stream created, also across restarts. */
function newEpoch(): string {
  return Date.now().toString(36) + Math.random().toString(36).slice(2, 8).padEnd(6, '0');
}

/**
 * One channel's stream: its epoch, the offset of its newest publication, and a ring of the
 * newest entries (contiguous offsets, oldest first). The ring grows up to `rule.size`.
 */
class Stream {
  private ring: (HistoryEntry | undefined)[] = [];
  private head = 0;
  count = 0;
  /** Bytes of the entries kept. */
  bytes = 0;

  constructor(
    readonly channel: string,
    readonly rule: HistoryRule,
    readonly epoch: string,
    public offset: number,
  ) {}

  /** The i-th oldest entry kept. */
  at(i: number): HistoryEntry {
    return this.ring[(this.head + i) % this.ring.length] as HistoryEntry;
  }

  /** Offset of the oldest entry kept; `offset + 1` when none is. */
  get oldestOffset(): number {
    return this.count === 0 ? this.offset + 1 : this.at(0).offset;
  }

  /** Adds the newest entry; true when the oldest one was pushed out by size. */
  push(entry: HistoryEntry): boolean {
    const capacity = this.rule.size;
    this.bytes += entry.bytes;
    if (this.count === capacity) {
      this.bytes -= this.at(0).bytes;
      this.ring[this.head] = entry;
      this.head = (this.head + 1) % this.ring.length;
      return true;
    }
    if (this.count === this.ring.length) {
      // Full but below capacity: unwrap, then grow at the end.
      if (this.head !== 0) {
        this.ring = [...this.ring.slice(this.head), ...this.ring.slice(0, this.head)];
        this.head = 0;
      }
      this.ring.push(entry);
    } else {
      this.ring[(this.head + this.count) % this.ring.length] = entry;
    }
    this.count++;
    return false;
  }

  /** Drops the oldest entry. */
  shift(): void {
    this.bytes -= this.at(0).bytes;
    this.ring[this.head] = undefined;
    this.count--;
    if (this.count === 0) {
      // An idle channel whose history expired keeps no array around.
      this.ring = [];
      this.head = 0;
    } else {
      this.head = (this.head + 1) % this.ring.length;
    }
  }

  /** Drops expired entries from the oldest end; returns how many. */
  dropExpired(nowMs: number): number {
    let dropped = 0;
    while (this.count > 0 && isExpired(this.at(0), nowMs)) {
      this.shift();
      dropped++;
    }
    return dropped;
  }
}

/**
 * Channel history (Centrifugo's model): every channel a `HistoryRule` matches gets a stream
 * with an epoch and monotonic offsets; its newest publications are kept in memory and
 * journalled to the store, so that a client can recover what it missed (`recover`) or page
 * through it (`read`). An epoch changes when the stream is lost (evicted, its rule removed
 * at a restart, or a store that does not outlive the process restarted) or may have lost
 * publications (`restore` with `newEpochs`); offsets of different epochs are unrelated.
 * A stream dropped here is deleted from the store too (`Store.deleteStream`).
 */
export class ChannelHistory {
  private readonly rules: HistoryRules;
  /** In order of last append (oldest first), for eviction. */
  private readonly streams = new Map<string, Stream>();
  private readonly maxStreams: number;
  private readonly maxTotalBytes: number;
  private entries = 0;
  private bytes = 0;
  /** Streams holding entries, in order of last append (oldest first): trimmed first past maxTotalBytes. */
  private readonly filled = new Set<Stream>();

  constructor(
    rules: HistoryRule[],
    private readonly store: Store,
    options: ChannelHistoryOptions,
  ) {
    this.rules = new HistoryRules(rules);
    this.maxStreams = Math.max(1, options.maxStreams);
    this.maxTotalBytes = options.maxTotalBytes ?? Number.POSITIVE_INFINITY;
  }

  get streamCount(): number {
    return this.streams.size;
  }

  get entryCount(): number {
    return this.entries;
  }

  /** Bytes (heldBytes) of the entries kept in all streams. */
  get byteCount(): number {
    return this.bytes;
  }

  /** The rule of `channel`, or undefined when the channel keeps no history. */
  ruleFor(channel: string): HistoryRule | undefined {
    return this.rules.ruleFor(channel);
  }

  /**
   * Gives `publication` its offset and epoch and keeps it, when its channel has a rule.
   * Called by the broker for every accepted publication, before fan-out.
   */
  append(publication: Publication, nowMs: number): void {
    const channel = publication.channel;
    const rule = this.rules.ruleFor(channel);
    if (rule === undefined) return;
    let stream = this.streams.get(channel);
    if (stream === undefined) stream = this.create(channel, rule, nowMs, false);
    else {
      // Most recently appended goes last.
      this.streams.delete(channel);
      this.streams.set(channel, stream);
    }
    const offset = ++stream.offset;
    const epoch = stream.epoch;
    publication.offset = offset;
    publication.epoch = epoch;
    const expiresAt = rule.ttlMs > 0 ? nowMs + rule.ttlMs : undefined;
    this.dropExpired(stream, nowMs);
    // Kept for a while: a payload cut from a socket read must not pin the whole read.
    const kept = ownedPublication(publication);
    const bytes = heldBytes(kept);
    const before = stream.bytes;
    let trimmed = stream.push({ offset, time: nowMs, expiresAt, publication: kept, bytes });
    if (!trimmed) this.entries++;
    const maxBytes = rule.maxBytes ?? Number.POSITIVE_INFINITY;
    while (stream.bytes > maxBytes) {
      this.shift(stream);
      trimmed = true;
    }
    this.bytes += stream.bytes - before;
    this.filled.delete(stream);
    if (stream.count > 0) this.filled.add(stream);
    const record: HistoryRecord = { channel, offset, time: nowMs, message: storedMessageOf(kept) };
    if (expiresAt !== undefined) record.expiresAt = expiresAt;
    this.store.appendHistory(record);
    this.store.putStream({ channel, epoch, offset, updatedAt: nowMs });
    if (trimmed) this.store.trimHistory(channel, stream.oldestOffset);
    if (this.bytes > this.maxTotalBytes) this.trimToTotal();
  }

  /** Drops the oldest entries of the least recently appended streams until under maxTotalBytes. */
  private trimToTotal(): void {
    for (const stream of this.filled) {
      if (this.bytes <= this.maxTotalBytes) return;
      while (stream.count > 0 && this.bytes > this.maxTotalBytes) {
        this.bytes -= stream.at(0).bytes;
        this.shift(stream);
      }
      this.store.trimHistory(stream.channel, stream.oldestOffset);
    }
  }

  /** Drops a stream's oldest entry, keeping the counts. */
  private shift(stream: Stream): void {
    stream.shift();
    this.entries--;
    if (stream.count === 0) this.filled.delete(stream);
  }

  private dropExpired(stream: Stream, nowMs: number): void {
    const before = stream.bytes;
    this.entries -= stream.dropExpired(nowMs);
    this.bytes += stream.bytes - before;
    if (stream.count === 0) this.filled.delete(stream);
  }

  /**
   * The channel's current position, creating its stream if needed (so that a subscriber
   * learns the epoch to recover from later). Undefined when the channel keeps no history.
   */
  position(channel: string): StreamPosition | undefined {
    const stream = this.streamOf(channel, Date.now());
    return stream && { offset: stream.offset, epoch: stream.epoch };
  }

  /**
   * What a client at `since` missed. Recovered when the stream has the same epoch, is at or
   * past `since.offset`, and still holds (unexpired) every publication after it; then
   * `publications` are exactly those, in order. Undefined when the channel keeps no history.
   */
  recover(channel: string, since: StreamPosition, nowMs: number): RecoveryResult | undefined {
    const stream = this.streamOf(channel, nowMs);
    if (stream === undefined) return undefined;
    this.dropExpired(stream, nowMs);
    const result: RecoveryResult = {
      recovered: false,
      publications: [],
      offset: stream.offset,
      epoch: stream.epoch,
    };
    if (since.epoch !== stream.epoch || since.offset > stream.offset) return result;
    if (since.offset === stream.offset) {
      result.recovered = true;
      return result;
    }
    const oldest = stream.oldestOffset;
    if (since.offset < oldest - 1) return result;
    const publications: Publication[] = [];
    for (let i = since.offset + 1 - oldest; i < stream.count; i++) {
      const entry = stream.at(i);
      if (isExpired(entry, nowMs)) return result;
      publications.push(entry.publication);
    }
    result.recovered = true;
    result.publications = publications;
    return result;
  }

  /**
   * A page of the channel's history (oldest first, never expired entries). With `since` of the
   * stream's epoch: the oldest `limit` after it, so that paging forward works; with `since` of
   * another epoch: from the oldest kept (the caller sees the epoch differ); without `since`:
   * the newest `limit`. Undefined when the channel keeps no history.
   */
  read(channel: string, options: HistoryReadOptions, nowMs: number): HistoryPage | undefined {
    const stream = this.streamOf(channel, nowMs);
    if (stream === undefined) return undefined;
    this.dropExpired(stream, nowMs);
    const { since, limit } = options;
    let start = 0;
    let end = stream.count;
    if (since !== undefined && since.epoch === stream.epoch) {
      start = Math.min(end, Math.max(0, since.offset + 1 - stream.oldestOffset));
    }
    if (limit !== undefined) {
      if (since !== undefined) end = Math.min(end, start + Math.max(0, limit));
      else start = Math.max(start, end - Math.max(0, limit));
    }
    const publications: Publication[] = [];
    for (let i = start; i < end; i++) {
      const entry = stream.at(i);
      if (!isExpired(entry, nowMs)) publications.push(entry.publication);
    }
    return { publications, offset: stream.offset, epoch: stream.epoch };
  }

  /**
   * Rebuilds streams from the store at start-up: same epochs (new ones with `newEpochs`) and
   * offsets, and the entries still unexpired and within their rule's size. Streams no rule
   * covers any more are deleted from the store, and so are the least recently appended ones
   * past `maxStreams` (by the stored `updatedAt`), as eviction would have done.
   */
  restore(
    streams: StreamRecord[],
    history: HistoryRecord[],
    nowMs: number,
    options: HistoryRestoreOptions = {},
  ): void {
    const byChannel = new Map<string, HistoryRecord[]>();
    for (const record of history) {
      const list = byChannel.get(record.channel);
      if (list) list.push(record);
      else byChannel.set(record.channel, [record]);
    }
    const covered: { record: StreamRecord; rule: HistoryRule }[] = [];
    for (const s of streams) {
      const rule = this.rules.ruleFor(s.channel);
      if (rule === undefined) {
        // Publications made while it had no rule were not kept: the stream cannot go on.
        byChannel.delete(s.channel);
        this.store.deleteStream(s.channel);
      } else covered.push({ record: s, rule });
    }
    // Most recently appended first (a stream without `updatedAt` counts as the oldest).
    covered.sort((a, b) => (b.record.updatedAt ?? -1) - (a.record.updatedAt ?? -1));
    for (const { record } of covered.slice(this.maxStreams)) {
      byChannel.delete(record.channel);
      this.store.deleteStream(record.channel);
    }
    // Oldest first, so that the map ends in order of last append.
    for (const { record: s, rule } of covered.slice(0, this.maxStreams).reverse()) {
      const records = byChannel.get(s.channel) ?? [];
      byChannel.delete(s.channel);
      records.sort((a, b) => a.offset - b.offset);
      const last = records.at(-1)?.offset ?? 0;
      const offset = Math.max(s.offset, last);
      // Keep the newest run of contiguous, unexpired entries ending at `offset`, up to `size`
      // and the rule's bytes.
      let from = records.length;
      let runBytes = 0;
      const maxBytes = rule.maxBytes ?? Number.POSITIVE_INFINITY;
      for (let older = records[from - 1]; older !== undefined; older = records[from - 1]) {
        if (records.length - from >= rule.size || older.offset !== offset - (records.length - from)) break;
        if (older.expiresAt !== undefined && older.expiresAt <= nowMs) break;
        const bytes = heldBytes(older.message);
        if (runBytes + bytes > maxBytes) break;
        runBytes += bytes;
        from--;
      }
      if (from > 0) this.store.trimHistory(s.channel, records[from]?.offset ?? offset + 1);
      const epoch = options.newEpochs ? newEpoch() : s.epoch;
      if (epoch !== s.epoch || offset !== s.offset) {
        const record: StreamRecord = { channel: s.channel, epoch, offset };
        if (s.updatedAt !== undefined) record.updatedAt = s.updatedAt;
        this.store.putStream(record);
      }
      const old = this.streams.get(s.channel);
      if (old) this.forget(old);
      const stream = new Stream(s.channel, rule, epoch, offset);
      for (const r of records.slice(from)) {
        const publication = publicationOf(r.message);
        publication.offset = r.offset;
        publication.epoch = epoch;
        const bytes = heldBytes(r.message);
        stream.push({ offset: r.offset, time: r.time, expiresAt: r.expiresAt, publication, bytes });
      }
      this.entries += stream.count;
      this.bytes += stream.bytes;
      if (stream.count > 0) this.filled.add(stream);
      this.streams.delete(s.channel);
      this.streams.set(s.channel, stream);
    }
    // Entries without a stream position cannot be recovered from.
    for (const channel of byChannel.keys()) this.store.trimHistory(channel, Number.POSITIVE_INFINITY);
    this.evictOverLimit();
    // limits.max_history_bytes may have been lowered since they were stored.
    if (this.bytes > this.maxTotalBytes) this.trimToTotal();
  }

  /** Drops expired entries from every stream (the store purges its own copy). */
  purge(nowMs: number): void {
    for (const stream of this.streams.values()) this.dropExpired(stream, nowMs);
  }

  private streamOf(channel: string, nowMs: number): Stream | undefined {
    const stream = this.streams.get(channel);
    if (stream !== undefined) return stream;
    const rule = this.rules.ruleFor(channel);
    return rule && this.create(channel, rule, nowMs, true);
  }

  /** A new stream, the most recent one; stored unless the caller stores it right after. */
  private create(channel: string, rule: HistoryRule, nowMs: number, store: boolean): Stream {
    const stream = new Stream(channel, rule, newEpoch(), 0);
    this.streams.set(channel, stream);
    if (store) this.store.putStream({ channel, epoch: stream.epoch, offset: 0, updatedAt: nowMs });
    this.evictOverLimit();
    return stream;
  }

  /** Takes a stream's entries out of the counts (the stream is dropped or replaced). */
  private forget(stream: Stream): void {
    this.entries -= stream.count;
    this.bytes -= stream.bytes;
    this.filled.delete(stream);
  }

  /** Drops the least recently appended streams whole, here and in the store, while there are too many. */
  private evictOverLimit(): void {
    while (this.streams.size > this.maxStreams) {
      const [channel, stream] = this.streams.entries().next().value as [string, Stream];
      this.streams.delete(channel);
      this.forget(stream);
      this.store.deleteStream(channel);
    }
  }
}

/**
 * Deletes every history stream and entry in `state` from the store. For a server started
 * without `[[history]]` tables (it has no `ChannelHistory`): publications made while history
 * is off are not kept, so a stream restored by a later start with tables would claim to
 * continue a sequence that has gaps (and `recover` would answer `recovered: true` wrongly).
 * Removing every table therefore deletes all stored history.
 */
export function forgetStreams(store: Store, state: Pick<StoredState, 'streams' | 'history'>): void {
  const channels = new Set<string>();
  for (const s of state.streams) channels.add(s.channel);
  for (const h of state.history) channels.add(h.channel);
  for (const channel of channels) store.deleteStream(channel);
}
