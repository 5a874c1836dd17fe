import { PresenceAction } from '@pulse/protocol';
import { PresenceEvent } from './outbound.js';
import type { Subscriber } from './subscriber.js';

export interface PresenceMember {
  readonly connectionId: string;
  readonly user: string | undefined;
  data: Record<string, unknown> | undefined;
}

/** Who is present on which channel. In memory only (presence is not durable by design). */
export class PresenceRegistry {
  private readonly channels = new Map<string, Map<string, PresenceMember>>();

  join(subscriber: Subscriber, channel: string, data: Record<string, unknown> | undefined): PresenceEvent {
    let members = this.channels.get(channel);
    if (!members) {
      members = new Map();
      this.channels.set(channel, members);
    }
    members.set(subscriber.id, { connectionId: subscriber.id, user: subscriber.user, data });
    subscriber.presenceChannels ??= new Set();
    subscriber.presenceChannels.add(channel);
    return new PresenceEvent(channel, PresenceAction.Join, subscriber.id, subscriber.user, data);
  }

  /** Undefined when the subscriber was not present there. */
  update(
    subscriber: Subscriber,
    channel: string,
    data: Record<string, unknown> | undefined,
  ): PresenceEvent | undefined {
    const member = this.channels.get(channel)?.get(subscriber.id);
    if (!member) return undefined;
    member.data = data;
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

  /** `{connection_id: data}` of every member of `channel`. */
  snapshot(channel: string): Record<string, Record<string, unknown>> {
    const out: Record<string, Record<string, unknown>> = {};
    const members = this.channels.get(channel);
    if (members) for (const m of members.values()) out[m.connectionId] = m.data ?? {};
    return out;
  }

  members(channel: string): PresenceMember[] {
    return [...(this.channels.get(channel)?.values() ?? [])];
  }

  hasMembers(channel: string): boolean {
    return this.channels.has(channel);
  }

  get channelCount(): number {
    return this.channels.size;
  }
}
