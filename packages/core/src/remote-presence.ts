import { PresenceAction } from '@pulse/protocol';
import { PresenceEvent } from './outbound.js';

/** Members of other nodes remembered at most (all channels); past it a remote join is ignored. */
export const MAX_REMOTE_MEMBERS = 100_000;
/** Bytes of remote members (data as measured, channel, ids) held at most; past it a remote join is ignored. */
export const MAX_REMOTE_PRESENCE_BYTES = 256 * 1024 * 1024;

/** A member present through another node of the cluster. */
export interface RemoteMember {
  readonly node: string;
  readonly connectionId: string;
  readonly user: string | undefined;
  data: Record<string, unknown> | undefined;
  /** Its data's size as its own node measured it (for bounded sync replies). */
  bytes: number;
}

/**
 * Who is present through other nodes (the cluster layer tells it; docs/CLUSTER.md): kept
 * apart from the local registry so that the node's own limits count its own clients only,
 * and by node, so that a node that left or died takes its members with it.
 */
export class RemotePresence {
  private readonly channels = new Map<string, Map<string, RemoteMember>>();
  /** channel → connection ids, per node. */
  private readonly byNode = new Map<string, Map<string, Set<string>>>();
  private count = 0;
  private held = 0;
  /** Remote joins ignored because MAX_REMOTE_MEMBERS or MAX_REMOTE_PRESENCE_BYTES were held. */
  ignored = 0;

  /**
   * A join, or an update of a member already known; the event to fan out (undefined: ignored).
   * `quiet`: a member already known takes the data without an event (a member list that
   * repeats what the node said before).
   */
  join(member: RemoteMember, channel: string, quiet = false): PresenceEvent | undefined {
    let members = this.channels.get(channel);
    const known = members?.get(member.connectionId);
    if (known !== undefined) {
      // The same connection id from two nodes: ids are random per process, so a forgery.
      if (known.node !== member.node) return undefined;
      if (this.held - known.bytes + member.bytes > MAX_REMOTE_PRESENCE_BYTES) {
        this.ignored++;
        return undefined;
      }
      this.held += member.bytes - known.bytes;
      known.data = member.data;
      known.bytes = member.bytes;
      if (quiet) return undefined;
      return new PresenceEvent(channel, PresenceAction.Update, known.connectionId, known.user, known.data);
    }
    const size = heldSize(member, channel);
    if (this.count >= MAX_REMOTE_MEMBERS || this.held + size > MAX_REMOTE_PRESENCE_BYTES) {
      this.ignored++;
      return undefined;
    }
    this.held += size;
    if (members === undefined) {
      members = new Map();
      this.channels.set(channel, members);
    }
    members.set(member.connectionId, { ...member });
    this.count++;
    let channels = this.byNode.get(member.node);
    if (channels === undefined) {
      channels = new Map();
      this.byNode.set(member.node, channels);
    }
    let ids = channels.get(channel);
    if (ids === undefined) {
      ids = new Set();
      channels.set(channel, ids);
    }
    ids.add(member.connectionId);
    return new PresenceEvent(channel, PresenceAction.Join, member.connectionId, member.user, member.data);
  }

  /** Undefined when `node` had no such member there. */
  leave(node: string, channel: string, connectionId: string): PresenceEvent | undefined {
    const members = this.channels.get(channel);
    const member = members?.get(connectionId);
    if (members === undefined || member === undefined || member.node !== node) return undefined;
    members.delete(connectionId);
    if (members.size === 0) this.channels.delete(channel);
    this.count--;
    this.held -= heldSize(member, channel);
    const channels = this.byNode.get(node);
    const ids = channels?.get(channel);
    ids?.delete(connectionId);
    if (ids !== undefined && ids.size === 0) channels?.delete(channel);
    if (channels !== undefined && channels.size === 0) this.byNode.delete(node);
    return new PresenceEvent(channel, PresenceAction.Leave, connectionId, member.user, member.data);
  }

  /** Every member of `node` leaves (the node left or stopped answering); their leave events. */
  dropNode(node: string): PresenceEvent[] {
    const events: PresenceEvent[] = [];
    for (const [channel, ids] of this.byNode.get(node) ?? []) {
      for (const id of [...ids]) {
        const event = this.leave(node, channel, id);
        if (event !== undefined) events.push(event);
      }
    }
    return events;
  }

  /** The members `node` has, as `channel → connection ids` (a copy). */
  membersOf(node: string): Map<string, Set<string>> {
    const out = new Map<string, Set<string>>();
    for (const [channel, ids] of this.byNode.get(node) ?? []) out.set(channel, new Set(ids));
    return out;
  }

  members(channel: string): IterableIterator<RemoteMember> | undefined {
    return this.channels.get(channel)?.values();
  }

  memberCount(channel: string): number {
    return this.channels.get(channel)?.size ?? 0;
  }

  nodes(): IterableIterator<string> {
    return this.byNode.keys();
  }

  get size(): number {
    return this.count;
  }

  /** What the members held count against MAX_REMOTE_PRESENCE_BYTES. */
  get heldBytes(): number {
    return this.held;
  }
}

/** A member's data as measured, and the strings that name it. */
function heldSize(member: RemoteMember, channel: string): number {
  return member.bytes + channel.length + member.connectionId.length + (member.user?.length ?? 0);
}
