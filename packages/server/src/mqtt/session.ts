import {
  type LoadedSession,
  type Message,
  ownedPublication,
  PAUSED,
  type Publication,
  type RetainedCursor,
  SHARED_PREFIX,
  type SessionRecord,
  type StoredDelivery,
  type StoredSubscription,
  storedMessageOf,
  type Subscriber,
  heldBytes,
  publicationOf,
} from '@pulse/core';
import { filterMatches } from '@pulse/protocol';
import type { PausePolicy } from '../transport/pause-allowance.js';
import type { PauseStats } from '../transport/publisher-pause.js';
import type { LongTimer } from '../util/long-timer.js';
import {
  ABSORBED_BYTES,
  ABSORBED_MESSAGES,
  QueuePressure,
  type QueueLevel,
  isHalfFull,
} from './queue-pressure.js';
import type { SessionJournal } from './session-journal.js';
import type { Inflight, Outgoing, SubscriptionOptions } from './session-records.js';

export type { Inflight, Outgoing, SubscriptionOptions } from './session-records.js';

/** Session Expiry Interval meaning "never expires" (MQTT 5 §3.1.2.11.2). */
export const NEVER_EXPIRES = 0xffff_ffff;

/** What a session needs from the network connection it is attached to. */
export interface SessionLink {
  /** Client's receive maximum: QoS 1/2 messages it accepts unacknowledged. */
  readonly receiveMaximum: number;
  /** True while the socket is past its byte budget: QoS 1/2 then waits in the session queue. */
  congested(): boolean;
  /**
   * False when the message was not sent and never will be (expired, too large for the client).
   * `paced`: the session sent it only because the connection had room (a retained replay), so
   * the slow-consumer policy does not apply to it.
   */
  sendPublish(item: Outgoing, packetId: number, dup: boolean, paced?: boolean): boolean;
  sendPubrel(packetId: number): void;
  /** Runs `fn` as the connection's own callback (an exception closes that connection only). */
  contain(fn: () => void): void;
}

export interface SessionPolicy {
  maxQueued: number;
  /** Bytes (as `heldBytes` counts them) one session's queue may hold; 0 = no byte limit. */
  maxQueuedBytes: number;
  queueQos0Offline: boolean;
  /** Queue QoS 0 too while the connection is congested (slow_consumer_policy = queue-offline). */
  queueQos0WhenCongested: boolean;
  /** Messages queued in all sessions together, and their limit (storage.max_stored_messages). */
  readonly total: { queued: number; queuedBytes: number };
  maxQueuedTotal: number;
  /** Bytes queued in all sessions together may reach this (mqtt.max_queued_bytes_total); 0 = no byte limit. */
  maxQueuedBytesTotal: number;
  onDrop(reason: string): void;
  /** limits.max_publisher_pause_ms and publisher_pause_percent (queue-pressure.ts); maxPauseMs 0 = a full queue never pauses publishers. */
  publisherPause: PausePolicy;
  readonly pauseStats: PauseStats;
}

/** One owned copy per publication, shared by every session that queues it. */
const ownedCopies = new WeakMap<Publication, Publication>();

function ownedOnce(publication: Publication): Publication {
  let owned = ownedCopies.get(publication);
  if (owned === undefined) {
    owned = ownedPublication(publication);
    ownedCopies.set(publication, owned);
  }
  return owned;
}

/** Shared by every session with nothing to resend or replay (never written to): an idle session allocates no arrays. */
const NOTHING = Object.freeze([]) as unknown as never[];
const NO_INFLIGHT: ReadonlyMap<number, Inflight> = new Map();

/** Topic-tree visits and sends of retained replays per event-loop turn and session. */
const REPLAY_STEPS_PER_TURN = 1024;

/** Retained messages still to send for one subscription (MQTT 5 §3.3.1.3). */
interface Replay {
  cursor: RetainedCursor;
  filter: string;
  /** The subscription's options when it began: a replay ends when they change. */
  options: SubscriptionOptions;
}

function outgoingOf(record: StoredDelivery): Outgoing {
  return {
    publication: publicationOf(record.message),
    qos: record.qos,
    retain: record.retain,
    subscriptionIds: record.subscriptionIds,
    seq: undefined,
    message: record.message,
  };
}

/**
 * An MQTT session (MQTT 5 §4.1): subscriptions and QoS state that outlive a network
 * connection when the client asks for it. It is the broker's subscriber whether or not a
 * connection is attached; while detached it queues QoS 1/2 messages (bounded).
 */
export class MqttSession implements Subscriber {
  filters: string[] | undefined;
  presenceChannels: Set<string> | undefined;
  deliveryRound = 0;
  /** One copy per shared subscription picking this session, as MQTT 5 §4.8.2 and Mosquitto do. */
  readonly copyPerSharedSubscription = true;
  /** The user its connection authenticated as (auth or hooks on), if any. */
  user: string | undefined;
  readonly subscriptions = new Map<string, SubscriptionOptions>();
  private attached: SessionLink | undefined;
  /** Made when the queue is first half full while connected. */
  private pressure: QueuePressure | undefined;
  /** Seconds the session outlives its connection (0 = ends with it; 0xFFFFFFFF = never). */
  expiryInterval = 0;
  expiryTimer: LongTimer | undefined;
  /**
   * QoS 1/2 messages sent and not yet acknowledged, by packet id. Made at the first, so a session
   * that never received one carries no map (docs/BENCHMARKS.md, c2), and then kept: a client that
   * acknowledges each message before the next would otherwise cost a new map per message.
   */
  private inflightById: Map<number, Inflight> | undefined;
  /** Messages waiting for the inflight window, the socket, or the client's return. */
  readonly queue: Outgoing[] = [];
  /** Bytes of `queue`, as `heldBytes` counts them. */
  queuedBytes = 0;
  /**
   * QoS 2 packet ids received and not yet released by PUBREL (awaitsRelease, holdForRelease,
   * release). Made at the first, then kept, as `inflightById`.
   */
  private incomingQos2: Set<number> | undefined;
  /** Set while the session is persistent (expiry interval above 0): its changes are stored. */
  journal: SessionJournal | undefined;
  private nextPacketId = 1;
  private nextSeq = 1;
  private nonSharedCount = 0;
  /** Inflight messages to send again (reconnect, retransmit timer), from `resendFrom` on, as the socket has room. */
  private resends: Inflight[] = NOTHING;
  private resendFrom = 0;
  /** Retained replays in SUBSCRIBE order, streamed as the window and the socket have room. */
  private replays: Replay[] = NOTHING;
  private replayScheduled = false;

  constructor(
    readonly id: string,
    readonly clientId: string,
    private readonly policy: SessionPolicy,
  ) {}

  get connected(): boolean {
    return this.attached !== undefined;
  }

  get link(): SessionLink | undefined {
    return this.attached;
  }

  set link(link: SessionLink | undefined) {
    if (link === undefined) this.pressure?.detached();
    this.attached = link;
  }

  /** Stores the session record (subscriptions, expiry); `expiresAt` while detached. */
  save(expiresAt?: number): void {
    this.journal?.saveSession(this.expiryInterval, this.subscriptions, expiresAt, this.user);
  }

  /** A QoS 2 PUBLISH with this packet id was routed and its PUBREL has not come yet. */
  awaitsRelease(packetId: number): boolean {
    return this.incomingQos2?.has(packetId) ?? false;
  }

  /** QoS 2 messages received and not yet released. */
  get awaitingRelease(): number {
    return this.incomingQos2?.size ?? 0;
  }

  get inflight(): ReadonlyMap<number, Inflight> {
    return this.inflightById ?? NO_INFLIGHT;
  }

  /** A QoS 2 PUBLISH was routed: its packet id is held until PUBREL (stored with a persistent session). */
  holdForRelease(packetId: number): void {
    this.incomingQos2 ??= new Set();
    this.incomingQos2.add(packetId);
    this.journal?.incomingQos2(packetId, true);
  }

  /** PUBREL: frees the packet id; false if it was not held. */
  release(packetId: number): boolean {
    if (this.incomingQos2 === undefined || !this.incomingQos2.delete(packetId)) return false;
    this.journal?.incomingQos2(packetId, false);
    return true;
  }

  /** Rebuilds the QoS state of a session loaded from the store. */
  restore(loaded: LoadedSession): void {
    for (const r of loaded.inflight) {
      this.setInflight({ ...outgoingOf(r), packetId: r.packetId, state: r.state, sentAt: 0 });
      if (r.packetId >= this.nextPacketId) this.nextPacketId = r.packetId === 65_535 ? 1 : r.packetId + 1;
    }
    for (const r of loaded.queue) {
      const item = { ...outgoingOf(r), seq: r.seq };
      this.queue.push(item);
      this.countQueued(heldBytes(item.publication));
      if (r.seq >= this.nextSeq) this.nextSeq = r.seq + 1;
    }
    if (loaded.incomingQos2.length > 0) this.incomingQos2 = new Set(loaded.incomingQos2);
    // mqtt.max_queued_messages may have been lowered since: the oldest go, as in enqueue.
    while (this.queue.length > this.policy.maxQueued) {
      this.dequeue();
      this.policy.onDrop('queue_full');
    }
    const maxBytes = this.policy.maxQueuedBytes;
    while (maxBytes > 0 && this.queuedBytes > maxBytes) {
      this.dequeue();
      this.policy.onDrop('queue_bytes');
    }
  }

  /**
   * The session as a store would load it (a handover to another node): its subscriptions,
   * the messages in flight in both directions and the queue, in order.
   */
  snapshot(): LoadedSession {
    const subscriptions: StoredSubscription[] = [];
    for (const [filter, o] of this.subscriptions) subscriptions.push({ filter, ...o });
    const session: SessionRecord = {
      clientId: this.clientId,
      expiryInterval: this.expiryInterval,
      subscriptions,
    };
    if (this.user !== undefined) session.user = this.user;
    const delivery = (o: Outgoing): StoredDelivery => {
      const d: StoredDelivery = { message: storedMessageOf(o.publication), qos: o.qos, retain: o.retain };
      if (o.subscriptionIds !== undefined) d.subscriptionIds = o.subscriptionIds;
      return d;
    };
    return {
      session,
      inflight: [...this.inflight.values()].map((e) => ({
        ...delivery(e),
        packetId: e.packetId,
        state: e.state,
      })),
      queue: this.queue.map((q, i) => ({ ...delivery(q), seq: i + 1 })),
      incomingQos2: [...(this.incomingQos2 ?? [])],
    };
  }

  /** Writes the whole session to its journal (one that came from another node). */
  persistAll(): void {
    const journal = this.journal;
    if (journal === undefined) return;
    this.save();
    for (const entry of this.inflight.values()) journal.inflight(entry);
    for (const item of this.queue) {
      item.seq = this.nextSeq++;
      journal.queued(item);
    }
    for (const id of this.incomingQos2 ?? []) journal.incomingQos2(id, true);
  }

  /** Forgets all QoS state (the session ended). */
  clear(): void {
    this.policy.total.queued -= this.queue.length;
    this.policy.total.queuedBytes -= this.queuedBytes;
    this.queuedBytes = 0;
    this.subscriptions.clear();
    this.inflightById = undefined;
    this.queue.length = 0;
    this.incomingQos2 = undefined;
    this.replays = NOTHING;
    this.resends = NOTHING;
  }

  /** Streams the retained messages `cursor` finds for the subscription to `filter`. */
  replayRetained(cursor: RetainedCursor, filter: string, options: SubscriptionOptions): void {
    // One replay per filter: a SUBSCRIBE again starts over, so that repeating it cannot pile them up.
    if (this.replays === NOTHING) this.replays = [];
    const previous = this.replays.findIndex((r) => r.filter === filter);
    if (previous !== -1) this.replays.splice(previous, 1);
    this.replays.push({ cursor, filter, options });
    if (this.replays.length === 1) this.pump();
  }

  setSubscription(filter: string, options: SubscriptionOptions): void {
    if (!this.subscriptions.has(filter) && !filter.startsWith(SHARED_PREFIX)) this.nonSharedCount++;
    this.subscriptions.set(filter, options);
  }

  deleteSubscription(filter: string): boolean {
    if (!this.subscriptions.delete(filter)) return false;
    if (!filter.startsWith(SHARED_PREFIX)) this.nonSharedCount--;
    return true;
  }

  deliver(message: Message, sharedFilter?: string): void {
    if (message.kind !== 'publication') return;
    let maxQos = -1;
    let retainAsPublished = false;
    let ids: number[] | undefined;
    if (sharedFilter !== undefined) {
      const o = this.subscriptions.get(sharedFilter);
      if (!o) return;
      maxQos = o.qos;
      retainAsPublished = o.retainAsPublished;
      if (o.subscriptionId !== undefined) ids = [o.subscriptionId];
    } else {
      // Overlapping subscriptions: one delivery at the highest QoS, with every matching
      // subscription identifier (MQTT 5 §3.3.4). With one subscription, it is the match.
      const single = this.nonSharedCount === 1;
      for (const [filter, o] of this.subscriptions) {
        if (!single && !filterMatches(filter, message.channel)) continue;
        if (filter.startsWith(SHARED_PREFIX)) continue;
        if (o.noLocal && message.publisher === this.id) continue;
        if (o.qos > maxQos) maxQos = o.qos;
        if (o.retainAsPublished) retainAsPublished = true;
        if (o.subscriptionId !== undefined) {
          ids ??= [];
          ids.push(o.subscriptionId);
        }
      }
    }
    if (maxQos < 0) return;
    const qos = (message.qos < maxQos ? message.qos : maxQos) as 0 | 1 | 2;
    // Every field set here, in this order: one object shape for all deliveries.
    this.send({
      publication: message,
      qos,
      retain: retainAsPublished && message.retain,
      subscriptionIds: ids,
      seq: undefined,
      message: undefined,
    });
  }

  /** Sends now if the link and window allow, else queues (QoS 0 only where the policy says). */
  send(item: Outgoing): void {
    const link = this.link;
    if (item.qos === 0) {
      if (link && !(this.policy.queueQos0WhenCongested && link.congested())) {
        link.sendPublish(item, 0, false);
        return;
      }
      if (link || this.policy.queueQos0Offline) this.enqueue(item);
      else this.policy.onDrop('qos0_offline');
      return;
    }
    if (link && this.queue.length === 0 && this.canSendNow(link)) this.transmit(link, item);
    else this.enqueue(item);
  }

  private canSendNow(link: SessionLink): boolean {
    return this.inflight.size < link.receiveMaximum && !link.congested();
  }

  private enqueue(item: Outgoing): void {
    const policy = this.policy;
    // The rest of the paused publisher's read is taken in (bounded: queue-pressure.ts).
    const absorbing =
      this.attached !== undefined &&
      policy.publisherPause.maxPauseMs > 0 &&
      isHalfFull(this.queueLevel) &&
      this.queuePressure(this.attached).absorbs();
    if (this.queue.length >= policy.maxQueued + (absorbing ? ABSORBED_MESSAGES : 0)) {
      if (policy.maxQueued === 0) return policy.onDrop('queue_full');
      this.dequeue();
      policy.onDrop('queue_full');
    } else if (policy.total.queued >= policy.maxQueuedTotal) {
      return policy.onDrop('store_full');
    }
    const bytes = heldBytes(item.publication);
    // As for the count: the oldest make room; a message larger than the whole limit never fits.
    if (policy.maxQueuedBytes > 0 && bytes > policy.maxQueuedBytes) return policy.onDrop('queue_bytes');
    let evicted = 0;
    let freed = 0;
    const maxBytes = policy.maxQueuedBytes + (absorbing ? ABSORBED_BYTES : 0);
    if (policy.maxQueuedBytes > 0)
      while (this.queuedBytes - freed + bytes > maxBytes)
        // An entry remains: bytes <= maxQueuedBytes (above), so queuedBytes - freed > 0.
        freed += heldBytes(this.queue[evicted++]!.publication);
    // As for storage.max_stored_messages: one session must not empty the others' queues. Checked
    // before evicting, so that a message refused here costs this session none of its oldest.
    const totalAfter = policy.total.queuedBytes - freed + bytes;
    if (policy.maxQueuedBytesTotal > 0 && totalAfter > policy.maxQueuedBytesTotal)
      return policy.onDrop('queue_bytes_total');
    for (; evicted > 0; evicted--) {
      this.dequeue();
      policy.onDrop('queue_bytes');
    }
    // Waiting for a client that is away may take long: the payload must not pin the socket
    // read it was cut from (one copy per publication, whatever the number of sessions).
    if (!this.link) item.publication = ownedOnce(item.publication);
    if (this.journal) {
      item.seq = this.nextSeq++;
      this.journal.queued(item);
    }
    this.queue.push(item);
    this.countQueued(bytes);
  }

  private countQueued(bytes: number): void {
    this.queuedBytes += bytes;
    this.policy.total.queued++;
    this.policy.total.queuedBytes += bytes;
  }

  private dequeue(): Outgoing {
    const item = this.queue.shift() as Outgoing;
    const bytes = heldBytes(item.publication);
    this.queuedBytes -= bytes;
    this.policy.total.queued--;
    this.policy.total.queuedBytes -= bytes;
    if (item.seq !== undefined) this.journal?.dequeued(item.seq);
    return item;
  }

  private transmit(link: SessionLink, item: Outgoing): void {
    const packetId = this.allocatePacketId();
    const entry: Inflight = {
      publication: item.publication,
      qos: item.qos,
      retain: item.retain,
      subscriptionIds: item.subscriptionIds,
      seq: undefined,
      message: item.message,
      packetId,
      state: 'publish',
      sentAt: Date.now(),
    };
    this.setInflight(entry);
    this.journal?.inflight(entry);
    if (!link.sendPublish(item, packetId, false)) this.forget(packetId);
  }

  private setInflight(entry: Inflight): void {
    this.inflightById ??= new Map();
    this.inflightById.set(entry.packetId, entry);
  }

  private forget(packetId: number): void {
    this.inflightById?.delete(packetId);
    this.journal?.completed(packetId);
  }

  private allocatePacketId(): number {
    for (;;) {
      const id = this.nextPacketId;
      this.nextPacketId = id === 65_535 ? 1 : id + 1;
      if (!this.inflight.has(id)) return id;
    }
  }

  /** The queue as queue-pressure.ts measures it. */
  private get queueLevel(): QueueLevel {
    return {
      length: this.queue.length,
      bytes: this.queuedBytes,
      maxLength: this.policy.maxQueued,
      maxBytes: this.policy.maxQueuedBytes,
    };
  }

  private queuePressure(link: SessionLink): QueuePressure {
    if (this.pressure !== undefined) return this.pressure;
    const session = this;
    const level: QueueLevel = {
      get length() {
        return session.queue.length;
      },
      get bytes() {
        return session.queuedBytes;
      },
      maxLength: this.policy.maxQueued,
      maxBytes: this.policy.maxQueuedBytes,
    };
    this.pressure = new QueuePressure(level, this.policy.publisherPause, this.policy.pauseStats, (fn) =>
      (this.attached ?? link).contain(fn),
    );
    return this.pressure;
  }

  /** Sends what waits, as far as the window and the socket allow: resends, the queue, then retained replays. */
  pump(): void {
    const link = this.link;
    if (!link) return;
    this.pumpQueue(link);
    this.pressure?.drained();
  }

  private pumpQueue(link: SessionLink): void {
    if (this.resends.length > 0 && !this.resend(link)) return;
    for (let next = this.queue[0]; next !== undefined; next = this.queue[0]) {
      if (next.qos === 0) {
        if (this.policy.queueQos0WhenCongested && link.congested()) return;
        this.dequeue();
        link.sendPublish(next, 0, false);
        continue;
      }
      if (!this.canSendNow(link)) return;
      this.dequeue();
      this.transmit(link, next);
    }
    if (this.replays.length > 0) this.replay(link);
    if (this.replays.length === 0) this.replays = NOTHING;
  }

  /**
   * Sends retained messages while the window and the socket have room, a bounded amount of
   * work per turn: a replay of many messages neither blocks the loop nor overruns the
   * connection's budget. Called again by an acknowledgement, a drained socket or the next turn.
   */
  private replay(link: SessionLink): void {
    const replays = this.replays;
    const budget = { steps: REPLAY_STEPS_PER_TURN };
    const now = Date.now();
    for (let first = replays[0]; first !== undefined; first = replays[0]) {
      const { cursor, filter, options } = first;
      if (this.subscriptions.get(filter) !== options) {
        replays.shift();
        continue;
      }
      if (budget.steps <= 0) return this.replayNextTurn();
      if (!this.canSendNow(link)) return;
      const publication = cursor.next(budget, now);
      if (publication === PAUSED) return this.replayNextTurn();
      if (publication === undefined) {
        replays.shift();
        continue;
      }
      budget.steps--;
      const item: Outgoing = {
        publication,
        qos: (publication.qos < options.qos ? publication.qos : options.qos) as 0 | 1 | 2,
        retain: true,
        subscriptionIds: options.subscriptionId !== undefined ? [options.subscriptionId] : undefined,
        seq: undefined,
        message: undefined,
      };
      if (item.qos === 0) link.sendPublish(item, 0, false, true);
      else this.transmit(link, item);
    }
  }

  private replayNextTurn(): void {
    if (this.replayScheduled) return;
    this.replayScheduled = true;
    setImmediate(() => {
      this.replayScheduled = false;
      this.pump();
    });
  }

  /** PUBACK (QoS 1) or PUBCOMP (QoS 2): the message is done. */
  complete(packetId: number, expected: 'publish' | 'pubrel'): boolean {
    const entry = this.inflight.get(packetId);
    if (!entry || entry.state !== expected) return false;
    this.forget(packetId);
    this.pump();
    return true;
  }

  /** PUBREC: the client has the QoS 2 message; release it. */
  received(packetId: number): boolean {
    const entry = this.inflight.get(packetId);
    if (!entry || entry.qos !== 2) return false;
    entry.state = 'pubrel';
    entry.sentAt = Date.now();
    this.journal?.inflight(entry);
    this.link?.sendPubrel(packetId);
    return true;
  }

  /** Resends what was unacknowledged, with DUP set (MQTT 5 §4.4), then the queue. */
  resume(link: SessionLink): void {
    this.link = link;
    this.resends = this.inflight.size > 0 ? [...this.inflight.values()] : NOTHING;
    this.resendFrom = 0;
    this.pump();
  }

  /** Resends inflight messages older than `olderThanMs` (the optional retransmit timer). */
  retransmit(olderThanMs: number): void {
    // The previous round is still going out.
    if (!this.link || this.resends.length > 0) return;
    const now = Date.now();
    const due: Inflight[] = [];
    for (const entry of this.inflight.values()) if (now - entry.sentAt >= olderThanMs) due.push(entry);
    if (due.length > 0) this.resends = due;
    this.resendFrom = 0;
    this.pump();
  }

  /**
   * Sends the resends while the socket has room (they are already in the window), so that a
   * reconnect with a full window of large messages is not a slow-consumer disconnect. True
   * when all are sent.
   */
  private resend(link: SessionLink): boolean {
    const resends = this.resends;
    while (this.resendFrom < resends.length) {
      if (link.congested()) return false;
      const entry = resends[this.resendFrom++] as Inflight; // resendFrom < length: the loop's check
      // Acknowledged, or forgotten, since it was listed.
      if (this.inflight.get(entry.packetId) !== entry) continue;
      entry.sentAt = Date.now();
      if (entry.state === 'pubrel') link.sendPubrel(entry.packetId);
      else if (!link.sendPublish(entry, entry.packetId, true)) this.forget(entry.packetId);
    }
    this.resends = NOTHING;
    this.resendFrom = 0;
    return true;
  }
}
