import { PresenceAction } from '@pulse/protocol';
import { PresenceEvent } from './outbound.js';
import type { RemotePresence } from './remote-presence.js';
import type { Subscriber } from './subscriber.js';

export interface PresenceMember {
  readonly connectionId: string;
  readonly user: string | undefined;
  data: Record<string, unknown> | undefined;
}

/** What a member costs in a sync reply besides its data: its connection id and the map entry. */
const MEMBER_OVERHEAD_BYTES = 32;

/**
 * Who is present on which channel. In memory only (presence is not durable by design). Reads
 * (`snapshot`, `memberCount`) include the members of other nodes (`remote`, when clustered),
 * after this node's own; limits count this node's own.
 */
export class PresenceRegistry {
  private readonly channels = new Map<string, Map<string, PresenceMember>>();
  /** Each member's data size as its protocol measured it (for bounded sync replies). */
  private readonly sizes = new WeakMap<PresenceMember, number>();

  constructor(private readonly remote?: RemotePresence) {}

  join(
    subscriber: Subscriber,
    channel: string,
    data: Record<string, unknown> | undefined,
    dataBytes = 0,
  ): PresenceEvent {
    let members = this.channels.get(channel);
    if (!members) {
      members = new Map();
      this.channels.set(channel, members);
    }
    const member = { connectionId: subscriber.id, user: subscriber.user, data };
    members.set(subscriber.id, member);
    this.sizes.set(member, dataBytes);
    subscriber.presenceChannels ??= new Set();
    subscriber.presenceChannels.add(channel);
    return new PresenceEvent(channel, PresenceAction.Join, subscriber.id, subscriber.user, data);
  }

  /** Undefined when the subscriber was not present there. */
  update(
    subscriber: Subscriber,
    channel: string,
    data: Record<string, unknown> | undefined,
    dataBytes = 0,
  ): PresenceEvent | undefined {
    const member = this.channels.get(channel)?.get(subscriber.id);
    if (!member) return undefined;
    member.data = data;
    this.sizes.set(member, dataBytes);
    return new PresenceEvent(channel, PresenceAction.Update, subscriber.id, subscriber.user, data);
  }

  /** Undefined when the subscriber was not present there. */
  leave(subscriber: Subscriber, channel: string): PresenceEvent | undefined {
    const members = this.channels.get(channel);
    const member = members?.get(subscriber.id);
    if (!members || !member) return undefined;
    members.delete(subscriber.id);
    if (members.size === 0) this.channels.delete(channel);
    subscriber.presenceChannels?.delete(channel);
    return new PresenceEvent(channel, PresenceAction.Leave, subscriber.id, subscriber.user, member.data);
  }

  /**
   * `{connection_id: data}` of the members of `channel`, in the order they joined, as many as
   * fit in `maxBytes` of data (always the first one): a sync reply stays within what one
   * connection may be sent, however many members a channel has.
   */
  snapshot(channel: string, maxBytes = Number.POSITIVE_INFINITY): Record<string, Record<string, unknown>> {
    const out: Record<string, Record<string, unknown>> = {};
    let bytes = 0;
    let n = 0;
    for (const m of this.channels.get(channel)?.values() ?? []) {
      bytes += (this.sizes.get(m) ?? 0) + MEMBER_OVERHEAD_BYTES;
      if (n > 0 && bytes > maxBytes) return out;
      out[m.connectionId] = m.data ?? {};
      n++;
    }
    for (const m of this.remote?.members(channel) ?? []) {
      bytes += m.bytes + MEMBER_OVERHEAD_BYTES;
      if (n > 0 && bytes > maxBytes) return out;
      out[m.connectionId] = m.data ?? {};
      n++;
    }
    return out;
  }

  /** Members of `channel`, this node's and the other nodes'. */
  memberCount(channel: string): number {
    return (this.channels.get(channel)?.size ?? 0) + (this.remote?.memberCount(channel) ?? 0);
  }

  /** This node's own members, with their data size: what it tells the other nodes. */
  *localMembers(): IterableIterator<{ channel: string; member: PresenceMember; bytes: number }> {
    for (const [channel, members] of this.channels) {
      for (const member of members.values()) yield { channel, member, bytes: this.sizes.get(member) ?? 0 };
    }
  }

  hasMembers(channel: string): boolean {
    return this.channels.has(channel);
  }

  get channelCount(): number {
    return this.channels.size;
  }
}
