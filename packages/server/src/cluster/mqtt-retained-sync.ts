import {
  type Publication,
  type Refusal,
  type RetainedStore,
  type RetainOutcome,
  heldBytes,
} from '@pulse/core';
import type { ControlFeature, UncheckedControl } from './control-bus.js';
import {
  type EntryRules,
  RETAINED_PART_ENTRIES,
  RETAINED_TYPES,
  type RetainedEntry,
  type RetainedMessage,
  type Stamp,
  checkRetainedMessage,
  entryOf,
  isNewer,
  stampAfter,
  publicationOfEntry,
} from './retained-messages.js';

/** Bytes (payloads, topics, properties) in one part of a set, about: one larger message goes alone. */
const PART_BYTES = 256 * 1024;
/** Parts sent per event-loop turn while a set goes out: a large set does not hold the loop. */
const PARTS_PER_TURN = 4;
/** Clearings remembered (so that an older copy of a cleared message does not come back), and their topics' bytes. */
export const MAX_TOMBSTONES = 10_000;
export const MAX_TOMBSTONE_BYTES = 8 * 1024 * 1024;
/** Sets waiting to go out (one per asking node); more askers at once are not answered. */
const MAX_QUEUED_SETS = 64;
/**
 * A set starts at most this long after the previous one began, and sending sets takes at most
 * about a tenth of the time (an ask is a few bytes, a set can be the whole store: a writer on the
 * engine server asking in a loop kept a node sending 90 MB/s and busy all the time).
 */
export const SET_MIN_INTERVAL_MS = 1000;
const SET_DUTY_FACTOR = 10;

/** What the sync needs of the MQTT broker (MqttService). */
export interface RetainedHost {
  readonly retained: RetainedStore;
  /** Sets (or, empty, clears) a retained message from another node, within the local limits. */
  retainFromPeer(publication: Publication): RetainOutcome;
  checkTopic(topic: string): Refusal | undefined;
}

type Send = (message: RetainedMessage, to?: string) => void;

/**
 * Retained messages shared by every node (docs/CLUSTER.md, "MQTT across nodes"). Each node
 * keeps its own copy (in its own store, within its own mqtt.max_retained_messages and
 * max_retained_bytes) and tells the others every set and clear a client made on it, stamped
 * (time, node id); the latest stamp wins on every node, so that they converge whatever the
 * order messages arrive in. A node that (re)joins asks for everyone's set and sends its own.
 */
export class RetainedSync implements ControlFeature {
  readonly types = RETAINED_TYPES;
  /** The stamp of each channel's retained message, when it is not the default (restored: time 0, this node). */
  private readonly stamps = new Map<string, Stamp>();
  private readonly tombstones = new Map<string, Stamp>();
  private tombstoneBytes = 0;
  /** Sets to send: to one node (its id) or to all (undefined). */
  private readonly queued: (string | undefined)[] = [];
  private sending = false;
  private closed = false;
  private nextSetAt = 0;
  private setTimer: NodeJS.Timeout | undefined;
  readonly stats = { applied: 0, ignored: 0, refused: 0, setsSent: 0 };
  private readonly rules: EntryRules;
  private readonly restoredStamp: Stamp;

  constructor(
    private readonly host: RetainedHost,
    private readonly nodeId: string,
    private readonly send: Send,
    maxPayloadBytes: number,
  ) {
    this.rules = { checkTopic: (topic) => host.checkTopic(topic), maxPayloadBytes };
    this.restoredStamp = { t: 0, o: nodeId };
  }

  /** A client set or cleared a retained message here: stamped later than any write known of it. */
  localChanged(publication: Publication): void {
    const channel = publication.channel;
    const current = this.stampOf(channel);
    const stamp = stampAfter(current.t, this.nodeId);
    this.remember(channel, stamp, publication.payload.length === 0);
    this.send({ y: 'mr', e: entryOf(publication, stamp) });
  }

  connected(): void {
    this.send({ y: 'mq' });
    if (this.host.retained.size > 0 || this.tombstones.size > 0) this.queueSet(undefined);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.setTimer);
  }

  receive(origin: string, unchecked: UncheckedControl): string | undefined {
    const message = checkRetainedMessage(unchecked, this.rules);
    if (typeof message === 'string') return message;
    switch (message.y) {
      case 'mr':
        this.apply(message.e);
        return undefined;
      case 'mq':
        this.queueSet(origin);
        return undefined;
      case 'mp':
        for (const entry of message.m) this.apply(entry);
        return undefined;
    }
  }

  private stampOf(channel: string): Stamp {
    return this.stamps.get(channel) ?? this.tombstones.get(channel) ?? this.restoredStamp;
  }

  private apply(entry: RetainedEntry): void {
    const stamp = { t: entry.t, o: entry.o };
    if (!isNewer(stamp, this.stampOf(entry.c))) {
      this.stats.ignored++;
      return;
    }
    const outcome = this.host.retainFromPeer(publicationOfEntry(entry));
    if (outcome === 'full' || outcome === 'over_bytes') {
      this.stats.refused++;
      return;
    }
    this.stats.applied++;
    this.remember(entry.c, stamp, outcome === 'cleared');
  }

  private remember(channel: string, stamp: Stamp, cleared: boolean): void {
    if (!cleared) {
      this.forgetTombstone(channel);
      this.stamps.set(channel, stamp);
      // Messages that expired (or were refused) leave stamps behind: swept once they add up.
      if (this.stamps.size > this.host.retained.size + 1024) this.sweepStamps();
      return;
    }
    this.stamps.delete(channel);
    this.forgetTombstone(channel);
    this.tombstones.set(channel, stamp);
    this.tombstoneBytes += channel.length;
    for (const [oldest] of this.tombstones) {
      if (this.tombstones.size <= MAX_TOMBSTONES && this.tombstoneBytes <= MAX_TOMBSTONE_BYTES) break;
      this.forgetTombstone(oldest);
    }
  }

  private forgetTombstone(channel: string): void {
    if (this.tombstones.delete(channel)) this.tombstoneBytes -= channel.length;
  }

  private sweepStamps(): void {
    for (const channel of this.stamps.keys()) {
      if (this.host.retained.get(channel) === undefined) this.stamps.delete(channel);
    }
  }

  private queueSet(to: string | undefined): void {
    if (this.queued.includes(to) || this.queued.length >= MAX_QUEUED_SETS) return;
    this.queued.push(to);
    if (!this.sending) this.sendNextSet();
  }

  private sendNextSet(): void {
    if (this.queued.length === 0 || this.closed) {
      this.sending = false;
      return;
    }
    this.sending = true;
    const startAt = Date.now();
    if (startAt < this.nextSetAt) {
      this.setTimer = setTimeout(() => this.sendNextSet(), this.nextSetAt - startAt);
      this.setTimer.unref();
      return;
    }
    // Several nodes waiting: one set for all of them.
    const to = this.queued.length > 1 ? undefined : this.queued[0];
    this.queued.length = 0;
    this.stats.setsSent++;
    const parts = this.parts();
    const turn = () => {
      for (let i = 0; i < PARTS_PER_TURN; i++) {
        const part = parts.next();
        if (part.done || this.closed) {
          const took = Date.now() - startAt;
          this.nextSetAt = startAt + Math.max(SET_MIN_INTERVAL_MS, SET_DUTY_FACTOR * took);
          return this.sendNextSet();
        }
        this.send({ y: 'mp', m: part.value }, to);
      }
      setImmediate(turn);
    };
    turn();
  }

  /** This node's retained messages and clearings, in parts. */
  private *parts(): Generator<RetainedEntry[]> {
    let part: RetainedEntry[] = [];
    let bytes = 0;
    const now = Date.now();
    const entries = function* (this: RetainedSync): Generator<[RetainedEntry, number]> {
      for (const publication of this.host.retained.clientMessages()) {
        if (publication.expiresAt !== undefined && publication.expiresAt <= now) continue;
        yield [entryOf(publication, this.stampOf(publication.channel)), heldBytes(publication)];
      }
      for (const [channel, stamp] of this.tombstones) {
        yield [{ c: channel, d: new Uint8Array(0), t: stamp.t, o: stamp.o }, channel.length];
      }
    };
    for (const [entry, size] of entries.call(this)) {
      if (part.length >= RETAINED_PART_ENTRIES || (part.length > 0 && bytes + size > PART_BYTES)) {
        yield part;
        part = [];
        bytes = 0;
      }
      part.push(entry);
      bytes += size;
    }
    if (part.length > 0) yield part;
  }
}
