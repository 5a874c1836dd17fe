import { ErrorCode } from '@pulse/protocol';
import { checkPublishChannel, checkSubscribeFilter, parseSharedFilter } from './channel.js';
import type { ChannelHistory } from './history/channel-history.js';
import type { Message, PresenceEvent, Publication } from './outbound.js';
import { PresenceRegistry } from './presence.js';
import { Refusal } from './refusal.js';
import { RemotePresence } from './remote-presence.js';
import type { Subscriber } from './subscriber.js';
import { SharedGroup } from './shared-group.js';
import { TopicIndex, isSingle } from './topic-index.js';
import { DEFAULT_MAX_CHANNEL_LENGTH, checkChannelLength } from './channel-length.js';
import { DEFAULT_MAX_TOPIC_LEVELS, checkTopicLevels } from './topic-levels.js';

export interface BrokerLimits {
  /**
   * Distinct channel filters with subscribers, and shared groups (each counts as one more);
   * also, counted apart, distinct channels with presence members.
   */
  maxChannels: number;
  maxSubscriptionsPerConnection: number;
  /** Levels of a channel or filter (DEFAULT_MAX_TOPIC_LEVELS when left out). */
  maxTopicLevels?: number;
  /** UTF-8 bytes of a channel or filter (DEFAULT_MAX_CHANNEL_LENGTH when left out). */
  maxChannelLength?: number;
  /** Presence channels one subscriber may be present on (no limit when absent). */
  maxPresencePerConnection?: number;
  /** Bytes of one member's presence data, as its protocol encodes it (no limit when absent). */
  maxPresenceDataBytes?: number;
}

/**
 * What the cluster layer is told (docs/CLUSTER.md): when the router gains its first subscriber
 * of a filter and loses its last (a shared group counts as a subscriber of its filter), which
 * is what a cluster engine subscribes to; and every presence change of this node's clients.
 */
export interface ClusterHooks {
  added(filter: string): void;
  removed(filter: string): void;
  /** A local join, update or leave; `dataBytes` as the member's protocol measured its data. */
  presenceChanged(event: PresenceEvent, dataBytes: number): void;
  /** A shared group (`$share/g/filter`) got its first member here, or lost its last. */
  groupAdded?(id: string): void;
  groupRemoved?(id: string): void;
  /**
   * Whether this node delivers `message` to its members of shared group `id` (one node per
   * group cluster-wide); asked once per group and message, only when a group matches.
   */
  deliversGroup?(message: Message, id: string): boolean;
}

export interface BrokerStats {
  publications: number;
  deliveries: number;
  subscriptions: number;
}

/**
 * The router: subscriptions, fan-out and presence, independent of any wire format.
 * Every protocol adapter calls it; it calls `Subscriber.deliver` and nothing else.
 */
/**
 * The `check` of `publish` and `admit` for a caller that has already checked the name, against
 * its protocol's rules and `checkNameLimits` (an MQTT PUBLISH, checked before its ACL): the
 * checks are not run twice per message.
 */
export const namesChecked = (_channel: string): Refusal | undefined => undefined;

export class Broker {
  private readonly index = new TopicIndex();
  private readonly sharedGroups = new Map<string, SharedGroup>();
  /** Members of other nodes, when clustered: the cluster layer keeps it. */
  readonly remotePresence = new RemotePresence();
  readonly presence = new PresenceRegistry(this.remotePresence);
  readonly stats: BrokerStats = { publications: 0, deliveries: 0, subscriptions: 0 };
  /** Set while the server is past a resource ceiling: every publication is refused with it. */
  overload: Refusal | undefined = undefined;
  /** Publications refused because `overload` was set. */
  overloadRefusals = 0;
  /** Channel history, when configured: gives publications their offset/epoch and keeps them. */
  history: ChannelHistory | undefined = undefined;
  readonly maxTopicLevels: number;
  readonly maxChannelLength: number;
  /** The cluster layer, when there is one (see ClusterHooks). */
  cluster: ClusterHooks | undefined = undefined;
  /** Numbers fan-outs while shared groups exist, so that each reaches a subscriber once. */
  private round = 0;

  constructor(private readonly limits: BrokerLimits) {
    this.maxTopicLevels = limits.maxTopicLevels ?? DEFAULT_MAX_TOPIC_LEVELS;
    this.maxChannelLength = limits.maxChannelLength ?? DEFAULT_MAX_CHANNEL_LENGTH;
  }

  /** Distinct filters with subscribers plus shared groups: what `maxChannels` bounds. */
  get channelCount(): number {
    return this.index.filterCount + this.sharedGroups.size;
  }

  get sharedGroupCount(): number {
    return this.sharedGroups.size;
  }

  /** The name checks of `publish`: the protocol's rules (`check`), then the name limits. */
  checkPublishName(
    channel: string,
    check: (channel: string) => Refusal | undefined = checkPublishChannel,
  ): Refusal | undefined {
    return check(channel) ?? this.checkNameLimits(channel);
  }

  /**
   * Refuses a channel or filter longer than `limits.maxChannelLength` or deeper than
   * `limits.maxTopicLevels` (1002 / InvalidChannel): every protocol's names pass here.
   */
  checkNameLimits(name: string): Refusal | undefined {
    return checkChannelLength(name, this.maxChannelLength) ?? checkTopicLevels(name, this.maxTopicLevels);
  }

  /** Channels and wildcard filters with subscribers, and how many each has (for listings). */
  channelListing(): { channels: Iterable<[string, number]>; wildcards: Iterable<[string, number]> } {
    return { channels: this.index.exactCounts(), wildcards: this.index.wildcardCounts() };
  }

  /** `check` is the protocol's filter rules; the native protocol's by default. */
  subscribe(
    subscriber: Subscriber,
    filter: string,
    check: (filter: string) => Refusal | undefined = checkSubscribeFilter,
  ): Refusal | undefined {
    const invalid = check(filter) ?? this.checkNameLimits(filter);
    if (invalid) return invalid;
    if (subscriber.filters?.includes(filter)) {
      return new Refusal(ErrorCode.AlreadySubscribed, `already subscribed to ${filter}`);
    }
    if ((subscriber.filters?.length ?? 0) >= this.limits.maxSubscriptionsPerConnection) {
      return new Refusal(
        ErrorCode.RateLimited,
        `too many subscriptions (limit ${this.limits.maxSubscriptionsPerConnection})`,
      );
    }
    const added = this.channelsAddedBy(filter);
    if (added > 0 && this.channelCount + added > this.limits.maxChannels) {
      return new Refusal(ErrorCode.RateLimited, `too many channels (limit ${this.limits.maxChannels})`);
    }
    // `[filter]` has room for exactly one; `[]` plus push would reserve seventeen slots.
    if (subscriber.filters) subscriber.filters.push(filter);
    else subscriber.filters = [filter];
    this.indexAdd(filter, subscriber);
    this.stats.subscriptions++;
    return undefined;
  }

  unsubscribe(subscriber: Subscriber, filter: string): Refusal | undefined {
    const at = subscriber.filters?.indexOf(filter) ?? -1;
    if (at === -1) return new Refusal(ErrorCode.NotSubscribed, `not subscribed to ${filter}`);
    const filters = subscriber.filters as string[];
    // Swap-remove: the last filter takes the removed one's place (unless it was the last).
    const last = filters.pop();
    if (last !== undefined && at < filters.length) filters[at] = last;
    this.indexRemove(filter, subscriber);
    this.stats.subscriptions--;
    return undefined;
  }

  /** How much subscribing to `filter` would add to `channelCount`: a new group, and its filter if new. */
  private channelsAddedBy(filter: string): number {
    const shared = parseSharedFilter(filter);
    if (!shared) return this.index.hasFilter(filter) ? 0 : 1;
    if (this.sharedGroups.has(filter)) return 0;
    return this.index.hasFilter(shared.filter) ? 1 : 2;
  }

  /** Shared subscriptions are indexed once per group, as the group itself. */
  private indexAdd(filter: string, subscriber: Subscriber): void {
    const shared = parseSharedFilter(filter);
    if (!shared) return this.indexTarget(filter, subscriber);
    let group = this.sharedGroups.get(filter);
    if (!group) {
      group = new SharedGroup(filter, shared.filter);
      this.sharedGroups.set(filter, group);
      this.indexTarget(shared.filter, group);
      this.cluster?.groupAdded?.(filter);
    }
    group.add(subscriber);
  }

  private indexRemove(filter: string, subscriber: Subscriber): void {
    const group = this.sharedGroups.get(filter);
    if (!group) return this.unindexTarget(filter, subscriber);
    group.remove(subscriber);
    if (group.size === 0) {
      this.sharedGroups.delete(filter);
      this.unindexTarget(group.filter, group);
      this.cluster?.groupRemoved?.(filter);
    }
  }

  private indexTarget(filter: string, target: Subscriber): void {
    const cluster = this.cluster;
    if (cluster === undefined || this.index.hasFilter(filter)) return this.index.add(filter, target);
    this.index.add(filter, target);
    cluster.added(filter);
  }

  private unindexTarget(filter: string, target: Subscriber): void {
    this.index.remove(filter, target);
    if (this.cluster !== undefined && !this.index.hasFilter(filter)) this.cluster.removed(filter);
  }

  /** Fans `publication` out to every subscriber of its channel; returns how many received it. */
  publish(
    publication: Publication,
    check: (channel: string) => Refusal | undefined = checkPublishChannel,
  ): number | Refusal {
    const refused = this.admit(publication, check);
    if (refused) return refused;
    if (this.history !== undefined) this.history.append(publication, Date.now());
    return this.fanOut(publication);
  }

  /**
   * The checks of `publish` (name, levels, overload), counting the publication when it passes;
   * for a publication whose fan-out comes later (cluster history: after the engine gave it an
   * offset), through `deliverRemote`.
   */
  admit(
    publication: Publication,
    check: (channel: string) => Refusal | undefined = checkPublishChannel,
  ): Refusal | undefined {
    if (check !== namesChecked) {
      const invalid = this.checkPublishName(publication.channel, check);
      if (invalid) return invalid;
    }
    if (this.overload !== undefined) {
      this.overloadRefusals++;
      return this.overload;
    }
    this.stats.publications++;
    return undefined;
  }

  /**
   * Delivers a message another node published (or a presence event it announced) to this
   * node's subscribers: no checks, no history append, no overload refusal, which were the
   * publishing node's. Returns how many received it.
   */
  deliverRemote(message: Message): number {
    return this.fanOut(message);
  }

  /** The `$share/{group}/{filter}` groups with members on this node. */
  sharedGroupIds(): IterableIterator<string> {
    return this.sharedGroups.keys();
  }

  /** Filters with subscribers on this node (the interest a cluster engine re-establishes). */
  *filters(): IterableIterator<string> {
    for (const [channel] of this.index.exactCounts()) yield channel;
    for (const [filter] of this.index.wildcardCounts()) yield filter;
  }

  private fanOut(message: Message): number {
    const targets = this.index.targetsOf(message.channel);
    if (targets === undefined) return 0;
    if (this.sharedGroups.size > 0) return this.fanOutWithGroups(message, targets);
    let delivered = 0;
    // One loop per shape: a single for-of over both Sets and arrays turns megamorphic and
    // costs several times more per delivery once both have been seen (docs/BENCHMARKS.md).
    if (targets instanceof Set) {
      for (const subscriber of targets) {
        subscriber.deliver(message);
        delivered++;
      }
    } else if (Array.isArray(targets)) {
      const list = targets as readonly Subscriber[];
      // Safe: i < list.length
      for (let i = 0; i < list.length; i++) list[i]!.deliver(message);
      delivered = list.length;
    } else {
      (targets as Subscriber).deliver(message);
      delivered = 1;
    }
    this.stats.deliveries += delivered;
    return delivered;
  }

  /**
   * Fan-out when shared groups exist. A subscriber takes one copy of a message however many
   * of its filters and groups match (docs/PROTOCOL.md), unless it asks for a copy per shared
   * subscription (MQTT). Direct subscribers go first, so that a group passes over its members
   * that already have the message and gives it to one that does not.
   */
  private fanOutWithGroups(message: Message, targets: Subscriber | Iterable<Subscriber>): number {
    const round = ++this.round;
    let groups: SharedGroup[] | undefined;
    let delivered = 0;
    for (const target of isSingle(targets) ? [targets] : targets) {
      if (target instanceof SharedGroup) {
        groups ??= [];
        groups.push(target);
        continue;
      }
      target.deliveryRound = round;
      target.deliver(message);
      delivered++;
    }
    if (groups !== undefined) {
      const cluster = this.cluster;
      for (const group of groups) {
        if (cluster?.deliversGroup !== undefined && !cluster.deliversGroup(message, group.id)) continue;
        const member = group.pick(round);
        if (member === undefined) continue;
        member.deliveryRound = round;
        member.deliver(message, group.id);
        delivered++;
      }
    }
    this.stats.deliveries += delivered;
    return delivered;
  }

  /** `dataBytes`: the size of `data` as the client's protocol encodes it, held to maxPresenceDataBytes. */
  presenceJoin(
    subscriber: Subscriber,
    channel: string,
    data?: Record<string, unknown>,
    dataBytes = 0,
  ): Refusal | undefined {
    const refusal =
      checkPublishChannel(channel) ?? this.checkNameLimits(channel) ?? this.presenceDataRefusal(dataBytes);
    if (refusal) return refusal;
    if (!subscriber.presenceChannels?.has(channel)) {
      const perConnection = this.limits.maxPresencePerConnection ?? Number.POSITIVE_INFINITY;
      if ((subscriber.presenceChannels?.size ?? 0) >= perConnection) {
        return new Refusal(ErrorCode.RateLimited, `present on too many channels (limit ${perConnection})`);
      }
      if (!this.presence.hasMembers(channel) && this.presence.channelCount >= this.limits.maxChannels) {
        return new Refusal(
          ErrorCode.RateLimited,
          `too many channels with presence (limit ${this.limits.maxChannels})`,
        );
      }
    }
    this.presenceChanged(this.presence.join(subscriber, channel, data, dataBytes), dataBytes);
    return undefined;
  }

  private presenceDataRefusal(dataBytes: number): Refusal | undefined {
    const max = this.limits.maxPresenceDataBytes ?? Number.POSITIVE_INFINITY;
    if (dataBytes <= max) return undefined;
    return new Refusal(ErrorCode.PayloadTooLarge, `presence data of ${dataBytes} bytes exceeds ${max}`);
  }

  presenceUpdate(
    subscriber: Subscriber,
    channel: string,
    data?: Record<string, unknown>,
    dataBytes = 0,
  ): Refusal | undefined {
    const invalid = checkPublishChannel(channel) ?? this.presenceDataRefusal(dataBytes);
    if (invalid) return invalid;
    const event = this.presence.update(subscriber, channel, data, dataBytes);
    if (!event) return new Refusal(ErrorCode.NotSubscribed, `not present on ${channel}`);
    this.presenceChanged(event, dataBytes);
    return undefined;
  }

  presenceLeave(subscriber: Subscriber, channel: string): Refusal | undefined {
    const invalid = checkPublishChannel(channel);
    if (invalid) return invalid;
    const event = this.presence.leave(subscriber, channel);
    if (!event) return new Refusal(ErrorCode.NotSubscribed, `not present on ${channel}`);
    this.presenceChanged(event, 0);
    return undefined;
  }

  /** A local presence change reaches this node's subscribers, then the cluster. */
  private presenceChanged(event: PresenceEvent, dataBytes: number): void {
    this.fanOut(event);
    this.cluster?.presenceChanged(event, dataBytes);
  }

  /** The members that fit in `maxBytes` of data (see PresenceRegistry.snapshot). */
  presenceSync(channel: string, maxBytes?: number): Record<string, Record<string, unknown>> | Refusal {
    const invalid = checkPublishChannel(channel);
    if (invalid) return invalid;
    return this.presence.snapshot(channel, maxBytes);
  }

  /** Drops everything a departing subscriber held; its presence leaves are announced. */
  disconnect(subscriber: Subscriber): void {
    if (subscriber.filters) {
      for (const filter of subscriber.filters) this.indexRemove(filter, subscriber);
      this.stats.subscriptions -= subscriber.filters.length;
      subscriber.filters = undefined;
    }
    if (subscriber.presenceChannels) {
      for (const channel of [...subscriber.presenceChannels]) {
        const event = this.presence.leave(subscriber, channel);
        if (event) this.presenceChanged(event, 0);
      }
      subscriber.presenceChannels = undefined;
    }
  }
}
