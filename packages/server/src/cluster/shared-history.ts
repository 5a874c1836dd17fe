import {
  type Broker,
  type HistoryPage,
  type HistoryRule,
  type Message,
  Publication,
  Refusal,
  type StreamPosition,
  type Subscriber,
  checkPublishChannel,
} from '@pulse/core';
import { DEFAULT_HISTORY_LIMIT, ErrorCode } from '@pulse/protocol';
import type { SubscribeRecovery } from '../history/subscribe-recovery.js';
import type { ClusterHistory, StoredEntry, StreamRead } from './cluster-history.js';
import { isEpoch } from './cluster-history.js';
import { decodeEnvelope, encodeEnvelope } from './envelope.js';
import { type FillResult, HistorySequencer } from './history-sequencer.js';

/** How long a publication whose offset is ahead waits for the ones before it before they are read from the engine. */
export const GAP_WAIT_MS = 1000;
/** Bytes of live messages held for one subscribe while it reads the engine's history; past it they are dropped and the subscribe says `recovered: false`. */
export const MAX_PIN_BYTES = 4 * 1024 * 1024;

/** A subscribe that read the engine: `run` subscribes and answers in the caller's turn. */
export interface SubscribeCommit {
  /** Subscribes, and returns the ack fields and what follows it; to be sent in this same turn. */
  run(): SubscribeRecovery | Refusal;
  /** The subscriber went away meanwhile: nothing is subscribed. */
  cancel(): void;
}

export interface SharedHistoryOptions {
  readonly nodeId: string;
  readonly maxEnvelopeBytes: number;
  /** Hands a publication (offset and epoch set) to the other nodes (Cluster.forward). */
  readonly forward: (publication: Publication) => void;
  /** Resolves once the engine holds this node's interest (Cluster.settled). */
  readonly settled: () => Promise<void>;
  readonly gapWaitMs?: number;
}

/** Holds what the router delivers on a channel while a subscribe reads the engine's history (Centrifugo's buffer). */
class HistoryPin implements Subscriber {
  filters?: string[];
  deliveryRound?: number;
  messages: Message[] = [];
  bytes = 0;
  overflowed = false;

  constructor(readonly id: string) {}

  deliver(message: Message): void {
    if (this.overflowed) return;
    this.bytes +=
      (message instanceof Publication ? message.payload.length : 256) + message.channel.length + 64;
    if (this.bytes > MAX_PIN_BYTES) {
      this.overflowed = true;
      this.messages = [];
    } else this.messages.push(message);
  }
}

const oneLine = (err: unknown) =>
  (err instanceof Error ? err.message : String(err)).split('\n')[0]?.trim() || 'unknown error';

export interface SharedHistoryStats {
  /** Entries read back from the engine that were not well-formed envelopes of their channel. */
  rejected: number;
}

/**
 * History and recovery cluster-wide (docs/CLUSTER.md, "History and recovery"): the channels a
 * `[[history]]` rule covers take their offsets and epoch from the engine's server
 * (ClusterHistory), not from this node's ChannelHistory. A publication on one is appended there
 * first, then delivered here and forwarded, and every node delivers a channel's publications in
 * offset order (HistorySequencer). A subscribe reads its position (and with `recover` what was
 * missed) from the engine while a pin holds the live publications that arrive meanwhile; they
 * are merged by offset, so nothing is lost or sent twice.
 */
export class SharedHistory {
  readonly sequencer: HistorySequencer;
  readonly stats: SharedHistoryStats = { rejected: 0 };
  private pins = 0;

  constructor(
    readonly store: ClusterHistory,
    private readonly broker: Broker,
    private readonly options: SharedHistoryOptions,
  ) {
    this.sequencer = new HistorySequencer(
      (publication) => broker.deliverRemote(publication),
      (channel, epoch, from, to) => this.fill(channel, epoch, from, to),
      options.gapWaitMs ?? GAP_WAIT_MS,
    );
  }

  private ruleFor(channel: string): HistoryRule | undefined {
    return this.broker.history?.ruleFor(channel);
  }

  /** True when `channel` keeps history (then every operation on it goes through here). */
  covers(channel: string): boolean {
    return this.ruleFor(channel) !== undefined;
  }

  start(): Promise<void> {
    return this.store.start();
  }

  async close(): Promise<void> {
    this.sequencer.close();
    await this.store.close();
  }

  /** A publication another node made (offset and epoch set): delivered here in offset order. */
  receive(publication: Publication): void {
    const offset = publication.offset;
    if (!Number.isSafeInteger(offset) || (offset as number) < 1 || !isEpoch(publication.epoch)) {
      this.stats.rejected++;
      return;
    }
    this.sequencer.offer(publication);
  }

  /**
   * Appends to the engine's stream, then delivers here and forwards; resolves with the local
   * deliveries once the engine took it. Refused at once when the engine is unreachable: a
   * publication it does not hold would be a hole in every other node's stream.
   */
  publish(
    publication: Publication,
    check: ((channel: string) => Refusal | undefined) | undefined,
  ): Refusal | Promise<number | Refusal> {
    const channel = publication.channel;
    const rule = this.ruleFor(channel) as HistoryRule;
    const refused = this.broker.admit(publication, check);
    if (refused) return refused;
    if (!this.store.ready) {
      return new Refusal(
        ErrorCode.ServerError,
        `channel ${channel} keeps history and the cluster's history (${this.store.kind}) is unreachable: publication refused`,
      );
    }
    const entry = encodeEnvelope(this.options.nodeId, 0, publication);
    if (entry.length > this.options.maxEnvelopeBytes) {
      return new Refusal(
        ErrorCode.PayloadTooLarge,
        `publication of ${entry.length} bytes exceeds the cluster's envelope bound`,
      );
    }
    const expiresAt = rule.ttlMs > 0 ? Date.now() + rule.ttlMs : undefined;
    return this.store.append(channel, rule, entry, expiresAt, this.sequencer.seen(channel)).then(
      (position) => {
        publication.offset = position.offset;
        publication.epoch = position.epoch;
        this.options.forward(publication);
        return this.sequencer.offer(publication, true);
      },
      (err) =>
        new Refusal(
          ErrorCode.ServerError,
          `channel ${channel} keeps history and the cluster's history did not take the publication: ${oneLine(err)}`,
        ),
    );
  }

  /**
   * Pins the channel (so the engine brings its publications here), reads the position (and
   * with `recover` the missed publications) from the engine, waits until this node has
   * delivered up to that position, then lets the caller subscribe and answer in one turn: the
   * replay is what was read, then what the pin held after the position.
   */
  subscribe(
    subscriber: Subscriber,
    channel: string,
    recover: StreamPosition | undefined,
    encode: (publication: Publication) => Buffer,
    room: number,
  ): Refusal | Promise<SubscribeCommit> {
    const pin = new HistoryPin(`history-pin:${++this.pins}`);
    const refused = this.broker.subscribe(pin, channel);
    if (refused) return refused;
    return this.prepare(pin, subscriber, channel, recover, encode as (message: Message) => Buffer, room);
  }

  private async prepare(
    pin: HistoryPin,
    subscriber: Subscriber,
    channel: string,
    recover: StreamPosition | undefined,
    encode: (message: Message) => Buffer,
    room: number,
  ): Promise<SubscribeCommit> {
    const rule = this.ruleFor(channel) as HistoryRule;
    let read: StreamRead | undefined;
    let caught = false;
    try {
      await this.options.settled();
      if (this.store.ready) {
        const query = recover === undefined ? { limit: 0 } : { after: recover.offset, limit: rule.size };
        read = await this.store.read(channel, rule, query);
        caught = await this.sequencer.caughtUp(channel, read.epoch, read.offset);
      }
    } catch {
      read = undefined;
    }
    const release = () => {
      if (pin.filters?.includes(channel)) this.broker.unsubscribe(pin, channel);
    };
    return {
      cancel: release,
      run: () => {
        const refused = this.broker.subscribe(subscriber, channel);
        release();
        if (refused) return refused;
        return this.answer(channel, read, caught, recover, pin, encode, room);
      },
    };
  }

  private answer(
    channel: string,
    read: StreamRead | undefined,
    caught: boolean,
    recover: StreamPosition | undefined,
    pin: HistoryPin,
    encode: (message: Message) => Buffer,
    room: number,
  ): SubscribeRecovery {
    const top = read?.offset ?? 0;
    const epoch = read?.epoch;
    const live: Buffer[] = [];
    for (const message of pin.messages) {
      // What the pin held up to the position read is in the read (or before the client's position).
      if (message instanceof Publication && message.epoch === epoch && (message.offset as number) <= top)
        continue;
      live.push(encode(message));
    }
    if (read === undefined) return { ack: recover ? { recovered: false } : {}, replay: live };
    const position = { offset: read.offset, epoch: read.epoch };
    if (recover === undefined) return { ack: position, replay: live };
    const missed = caught && !pin.overflowed ? this.recovered(channel, read, recover) : undefined;
    if (missed === undefined) return { ack: { recovered: false, ...position }, replay: live };
    const replay: Buffer[] = [];
    let bytes = 0;
    for (const publication of missed) {
      const encoded = encode(publication);
      bytes += encoded.length;
      if (bytes > room) return { ack: { recovered: false, ...position }, replay: live };
      replay.push(encoded);
    }
    replay.push(...live);
    return { ack: { recovered: true, ...position }, replay };
  }

  /** Every publication after `since` up to the read's position, or undefined when one is missing. */
  private recovered(channel: string, read: StreamRead, since: StreamPosition): Publication[] | undefined {
    if (since.epoch !== read.epoch || since.offset > read.offset) return undefined;
    const now = Date.now();
    const publications: Publication[] = [];
    let expected = since.offset + 1;
    for (const entry of read.entries) {
      if (entry.offset !== expected || expired(entry, now)) return undefined;
      const publication = this.decode(channel, read.epoch, entry);
      if (publication === undefined) return undefined;
      publications.push(publication);
      expected++;
    }
    return expected === read.offset + 1 ? publications : undefined;
  }

  private decode(channel: string, epoch: string, entry: StoredEntry): Publication | undefined {
    const envelope = decodeEnvelope(entry.bytes, this.options.maxEnvelopeBytes);
    if (
      typeof envelope === 'string' ||
      envelope.kind !== 'publication' ||
      envelope.publication.channel !== channel
    ) {
      this.stats.rejected++;
      return undefined;
    }
    const publication = envelope.publication;
    publication.offset = entry.offset;
    publication.epoch = epoch;
    return publication;
  }

  /**
   * The offsets `from`..`to` of `epoch`, as far as the engine still has them, with the stream's
   * epoch and newest offset (for the sequencer's gaps and epoch checks; `to` < `from`: the position only).
   */
  private async fill(
    channel: string,
    epoch: string,
    from: number,
    to: number,
  ): Promise<FillResult | undefined> {
    const rule = this.ruleFor(channel);
    if (rule === undefined || !this.store.ready) return undefined;
    const read = await this.store.read(channel, rule, { after: from - 1, limit: Math.max(0, to - from + 1) });
    const found: Publication[] = [];
    if (read.epoch === epoch) {
      for (const entry of read.entries) {
        if (entry.offset > to) break;
        const publication = this.decode(channel, epoch, entry);
        if (publication !== undefined) found.push(publication);
      }
    }
    return { epoch: read.epoch, offset: read.offset, found };
  }

  /**
   * A page of the channel's history from the engine, as ChannelHistory.read answers locally:
   * undefined when it keeps no history, a Refusal for a malformed name or an unreachable engine.
   */
  read(
    channel: string,
    since: StreamPosition | undefined,
    limit: number | undefined,
  ): Refusal | undefined | Promise<HistoryPage | Refusal> {
    const invalid = checkPublishChannel(channel);
    if (invalid) return invalid.code === ErrorCode.Forbidden ? undefined : invalid;
    const rule = this.ruleFor(channel);
    if (rule === undefined) return undefined;
    if (!this.store.ready) {
      return new Refusal(ErrorCode.ServerError, `the cluster's history (${this.store.kind}) is unreachable`);
    }
    return this.page(channel, rule, since, limit ?? DEFAULT_HISTORY_LIMIT);
  }

  private async page(
    channel: string,
    rule: HistoryRule,
    since: StreamPosition | undefined,
    limit: number,
  ): Promise<HistoryPage | Refusal> {
    try {
      let read =
        since === undefined
          ? await this.store.read(channel, rule, { limit })
          : await this.store.read(channel, rule, { after: since.offset, limit });
      // A position of another epoch: from the oldest kept (the caller sees the epoch differ).
      if (since !== undefined && read.epoch !== since.epoch)
        read = await this.store.read(channel, rule, { after: 0, limit });
      const now = Date.now();
      const publications: Publication[] = [];
      for (const entry of read.entries) {
        if (expired(entry, now)) continue;
        const publication = this.decode(channel, read.epoch, entry);
        if (publication !== undefined) publications.push(publication);
      }
      return { publications, offset: read.offset, epoch: read.epoch };
    } catch (err) {
      return new Refusal(ErrorCode.ServerError, `the cluster's history could not be read: ${oneLine(err)}`);
    }
  }
}

const expired = (entry: StoredEntry, now: number) => entry.expiresAt !== undefined && entry.expiresAt <= now;
