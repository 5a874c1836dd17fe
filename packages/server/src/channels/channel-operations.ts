import {
  type Broker,
  type ChannelHistory,
  type HistoryPage,
  type Publication,
  Refusal,
  type StreamPosition,
  type Subscriber,
} from '@pulse/core';
import type { SharedHistory, SubscribeCommit } from '../cluster/shared-history.js';
import { readHistory } from '../history/read-history.js';
import { type SubscribeRecovery, subscribeRecovery } from '../history/subscribe-recovery.js';
import type { CheckedPresenceData } from '../presence/presence-data.js';
import type { FlushScheduler } from '../transport/flush-scheduler.js';

/** A presence read: the members whose data fit the reply, and whether some were left out for size. */
export interface PresenceSync {
  readonly members: Record<string, Record<string, unknown>>;
  readonly truncated: boolean;
}

/**
 * What a client can do to a channel, the same for every protocol (native, JSON, HTTP API,
 * MQTT); their sessions only frame the requests and answers. One per PulseServer.
 *
 * This is where a cluster engine (Redis, NATS: issue 11) will sit, split as centrifuge's
 * Broker / PresenceManager / Node are:
 * - to the engine: `publish`'s fan-out to the other nodes (and the history append, so that
 *   every node reads one stream with one offset/epoch), `readHistory` and the stream position
 *   and recovery of `subscribe`, and presence across nodes (`presenceSync`, `setPresence`,
 *   `presenceLeave`, and the leaves of `leaveAll`);
 * - local to the node: delivery to this node's subscribers (the Broker's router), encoding
 *   once per node (Message.encodings), the latency note, the storage commit, and the rights
 *   (operation-rights.ts), which are checked before anything gets here.
 */
export class ChannelOperations {
  /** The other nodes, when `[cluster]` has an engine: they get every publication made here. */
  cluster:
    | { forward(publication: Publication): void; interestInForce(): Promise<void> | undefined }
    | undefined = undefined;
  /**
   * History and recovery cluster-wide, when `[cluster]` has an engine and `[[history]]` rules:
   * the operations on a history channel go there and answer asynchronously (a Promise).
   */
  sharedHistory: SharedHistory | undefined = undefined;

  constructor(
    readonly broker: Broker,
    private readonly scheduler: FlushScheduler,
    /** See `commitBeforeAnswer`. */
    private readonly commit: () => void,
  ) {}

  get history(): ChannelHistory | undefined {
    return this.broker.history;
  }

  /**
   * Routes `publication` (the broker appends it to the channel's history first), notes it
   * for pulse_publish_latency_seconds when it reached someone here, then hands it to the
   * cluster (after the local fan-out: local subscribers never wait on the engine); returns
   * the local deliveries; `nameProblem` is the
   * protocol's own name check (MQTT topics), else the native channel rules. Allocates nothing.
   */
  publish(
    publication: Publication,
    nameProblem?: (channel: string) => Refusal | undefined,
  ): number | Refusal | Promise<number | Refusal> {
    const shared = this.sharedHistory;
    if (shared?.covers(publication.channel)) {
      const pending = shared.publish(publication, nameProblem);
      if (pending instanceof Refusal) return pending;
      return pending.then((delivered) => {
        if (typeof delivered === 'number' && delivered > 0) this.scheduler.notePublication(publication);
        return delivered;
      });
    }
    const delivered = this.broker.publish(publication, nameProblem);
    if (typeof delivered !== 'number') return delivered;
    if (delivered > 0) this.scheduler.notePublication(publication);
    this.cluster?.forward(publication);
    return delivered;
  }

  /**
   * Commits what the store holds before an answer that is not a socket write acknowledges it
   * (HTTP API); socket acknowledgements need no call, the write path commits before each write
   * batch (FlushScheduler.beforeWrite). Throws when the store has failed.
   */
  commitBeforeAnswer(): void {
    this.commit();
  }

  /**
   * Subscribes, then the history side of the acknowledgement (see subscribeRecovery): sent in
   * the same turn as the ack so that nothing is lost or sent twice. `encode` frames a replayed
   * publication; `room` is what the connection's outbound budget has left for the replay.
   */
  subscribe(
    subscriber: Subscriber,
    filter: string,
    recover: StreamPosition | undefined,
    encode: (publication: Publication) => Buffer,
    room: number,
  ): SubscribeRecovery | Refusal | Promise<SubscribeCommit> {
    const shared = this.sharedHistory;
    if (shared?.covers(filter)) return shared.subscribe(subscriber, filter, recover, encode, room);
    const refusal = this.broker.subscribe(subscriber, filter);
    if (refusal) return refusal;
    return subscribeRecovery(this.broker.history, filter, recover, encode, room);
  }

  /**
   * After a subscribe: a promise when the cluster engine does not hold this node's interest
   * yet (bounded), to answer once a publication from any node is sure to arrive; undefined
   * without a cluster or when it does (docs/CLUSTER.md, "When a subscription takes effect").
   */
  interestInForce(): Promise<void> | undefined {
    return this.cluster?.interestInForce();
  }

  unsubscribe(subscriber: Subscriber, filter: string): Refusal | undefined {
    return this.broker.unsubscribe(subscriber, filter);
  }

  /** The subscriber is gone: its subscriptions go, its presence leaves are announced. */
  leaveAll(subscriber: Subscriber): void {
    this.broker.disconnect(subscriber);
  }

  /** See readHistory: a Refusal for a malformed name, undefined when the channel keeps no history. */
  readHistory(
    channel: string,
    since: StreamPosition | undefined,
    limit: number | undefined,
  ): HistoryPage | Refusal | undefined | Promise<HistoryPage | Refusal> {
    const shared = this.sharedHistory;
    if (shared?.covers(channel)) return shared.read(channel, since, limit);
    return readHistory(this.broker.history, channel, since, limit);
  }

  /** The channel's members whose data fits `maxBytes`, and whether some were left out. */
  presenceSync(channel: string, maxBytes: number): PresenceSync | Refusal {
    const members = this.broker.presenceSync(channel, maxBytes);
    if (members instanceof Refusal) return members;
    const truncated = Object.keys(members).length < this.broker.presence.memberCount(channel);
    return { members, truncated };
  }

  /** A join (or else an update) with checked data: the checker's refusal, or the broker's answer. */
  setPresence(
    subscriber: Subscriber,
    channel: string,
    join: boolean,
    checked: CheckedPresenceData | Refusal,
  ): Refusal | undefined {
    if (checked instanceof Refusal) return checked;
    return join
      ? this.broker.presenceJoin(subscriber, channel, checked.data, checked.bytes)
      : this.broker.presenceUpdate(subscriber, channel, checked.data, checked.bytes);
  }

  presenceLeave(subscriber: Subscriber, channel: string): Refusal | undefined {
    return this.broker.presenceLeave(subscriber, channel);
  }
}
