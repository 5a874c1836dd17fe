import { type Broker, MAX_REMOTE_MEMBERS, type PresenceEvent, checkPublishChannel } from '@pulse/core';
import { PresenceAction, msgpack, plainMessagePackProblem } from '@pulse/protocol';
import type { ControlFeature, UncheckedControl } from './control-bus.js';
import { MAX_ORIGINS } from './origin-sequences.js';
import {
  PRESENCE_TYPES,
  type PresenceMessage,
  SNAPSHOT_CHUNK_MEMBERS,
  type SnapshotMember,
  checkPresenceMessage,
} from './presence-messages.js';

/** Data bytes (as measured by their protocols) in one member list message, about. */
const SNAPSHOT_CHUNK_BYTES = 256 * 1024;
/** Nesting of one member's data, its own map being level 1 (as presence.max_data_bytes's check). */
const MAX_DATA_DEPTH = 30;
/** A member list asked for by several nodes at once is sent once. */
const LIST_COALESCE_MS = 50;
/**
 * Lists sent at most once in this long, asked for or not: an ask costs its sender a few bytes
 * and every node its whole member list, so that a writer repeating it would otherwise have every
 * node publish its members without end.
 */
export const LIST_MIN_INTERVAL_MS = 1000;
/**
 * A remote member's data, as MessagePack, at most this many times presence.max_data_bytes: the
 * limit is on the size in the client's protocol, and JSON's `0.5` is 9 bytes of MessagePack.
 */
export const REMOTE_DATA_FACTOR = 4;
/** Characters of a remote member's connection id, and of its user id, at most. */
export const MAX_REMOTE_ID_CHARS = 1024;

const isMap = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);

/**
 * Presence across nodes (docs/CLUSTER.md, "Presence"). Every node tells every other one, on
 * the control channel, each join, update and leave of its own clients, and its whole member
 * list when it (re)joins or is asked; it says it is alive every third of
 * `cluster.presence_ttl_ms`. The members of a node silent for longer, or that said goodbye,
 * leave, with leave events for the subscribers here. The members of other nodes live in
 * `Broker.remotePresence`, which presence reads include.
 */
export class ClusterPresence implements ControlFeature {
  readonly types = PRESENCE_TYPES;
  /** When each other node was last heard from. */
  private readonly lastHeard = new Map<string, number>();
  /** The member list being received from each node: its number and the members seen so far. */
  private readonly incoming = new Map<string, { n: number; seen: Map<string, Set<string>>; count: number }>();
  /** Members remembered in `incoming`, all lists together (MAX_REMOTE_MEMBERS at most). */
  private incomingCount = 0;
  private timer: NodeJS.Timeout | undefined;
  private listTimer: NodeJS.Timeout | undefined;
  private listNumber = 0;
  /** When each member list was sent (the last few), for tests and diagnostics. */
  readonly listsSentAt: number[] = [];
  private lastListAt = Number.NEGATIVE_INFINITY;
  private readonly maxRemoteDataBytes: number;
  /** Control messages refused (malformed data, too many nodes). */
  rejected = 0;

  constructor(
    private readonly broker: Broker,
    private readonly send: (message: PresenceMessage, to?: string) => void,
    private readonly ttlMs: number,
    /** presence.max_data_bytes */
    maxDataBytes: number,
  ) {
    this.maxRemoteDataBytes = REMOTE_DATA_FACTOR * maxDataBytes;
  }

  start(): void {
    this.timer = setInterval(() => this.tick(Date.now()), Math.max(1, Math.floor(this.ttlMs / 3)));
    this.timer.unref();
  }

  /** (Re)joined: ask for everyone's members and tell ours (others may have dropped them). */
  connected(): void {
    this.send({ y: 'h' });
    this.sendList();
  }

  /** A join, update or leave of one of this node's clients. */
  localChanged(event: PresenceEvent, dataBytes: number): void {
    if (event.action === PresenceAction.Leave) {
      this.send({ y: 'l', c: event.channel, i: event.connectionId });
      return;
    }
    this.send({
      y: 'j',
      c: event.channel,
      i: event.connectionId,
      u: event.user,
      d: event.data === undefined ? undefined : msgpack.pack(event.data),
      b: dataBytes,
    });
  }

  receive(origin: string, unchecked: UncheckedControl, now: number): string | undefined {
    const message = checkPresenceMessage(unchecked);
    if (typeof message === 'string') return message;
    if (!this.lastHeard.has(origin) && this.lastHeard.size >= MAX_ORIGINS) {
      this.rejected++;
      return undefined;
    }
    if (message.y === 'b') {
      this.drop(origin);
      return undefined;
    }
    const known = this.lastHeard.has(origin);
    this.lastHeard.set(origin, now);
    // A node heard from again after its members were dropped here (silent past the TTL: paused,
    // or a goodbye forged in its name) does not know: ask it. A node that (re)joins says so
    // with an 'h' to all and sends its list itself.
    const joining = message.y === 's' || (message.y === 'h' && message.r !== true);
    if (!known && !joining) this.send({ y: 'h', r: true }, origin);
    return this.apply(origin, message);
  }

  /** Members of unfinished lists remembered, all lists together. */
  get listMembersHeld(): number {
    return this.incomingCount;
  }

  /** The other nodes heard from within the TTL (their ids). */
  peers(): IterableIterator<string> {
    return this.lastHeard.keys();
  }

  /** True when node `id` was heard from within the TTL. */
  isPeer(id: string): boolean {
    return this.lastHeard.has(id);
  }

  /** Why the message was refused, or undefined. */
  private apply(origin: string, message: PresenceMessage): string | undefined {
    switch (message.y) {
      case 'j': {
        const event = this.join(origin, message.c, message.i, message.u, message.d, message.b, false);
        if (typeof event === 'string') return event;
        return this.deliver(event);
      }
      case 'l':
        return this.deliver(this.broker.remotePresence.leave(origin, message.c, message.i));
      case 'h':
        return this.scheduleList();
      case 's':
        return this.receiveList(origin, message.n, message.f, message.m);
      case 'a':
        return;
    }
  }

  /** Says goodbye (the other nodes drop our members at once) and stops. */
  close(): void {
    clearInterval(this.timer);
    clearTimeout(this.listTimer);
    this.send({ y: 'b' });
  }

  /** Says it is alive; the members of nodes not heard from within the TTL leave. */
  tick(now: number): void {
    this.send({ y: 'a' });
    for (const [origin, heard] of this.lastHeard) {
      if (now - heard > this.ttlMs) this.drop(origin);
    }
  }

  private drop(origin: string): void {
    this.lastHeard.delete(origin);
    this.forgetList(origin);
    for (const event of this.broker.remotePresence.dropNode(origin)) this.broker.deliverRemote(event);
  }

  private join(
    origin: string,
    channel: string,
    connectionId: string,
    user: string | null | undefined,
    data: Uint8Array | null | undefined,
    bytes: number,
    quiet: boolean,
  ): PresenceEvent | undefined | string {
    const problem = this.memberProblem(channel, connectionId, user, data);
    if (problem !== undefined) {
      this.rejected++;
      return problem;
    }
    let decoded: Record<string, unknown> | undefined;
    let size = 0;
    if (data !== null && data !== undefined) {
      const value =
        plainMessagePackProblem(data, MAX_DATA_DEPTH) === undefined ? msgpack.unpack(data) : undefined;
      if (!isMap(value)) {
        this.rejected++;
        return 'presence data not a plain map';
      }
      decoded = value;
      size = data.length;
    }
    // The size the node says its client's protocol measured, held to what is there and to the bound.
    const measured = Math.min(Math.max(bytes, size), this.maxRemoteDataBytes);
    const member = { node: origin, connectionId, user: user ?? undefined, data: decoded, bytes: measured };
    return this.broker.remotePresence.join(member, channel, quiet);
  }

  /** What this node would have refused of its own client's join (docs/SECURITY.md). */
  private memberProblem(
    channel: string,
    connectionId: string,
    user: string | null | undefined,
    data: Uint8Array | null | undefined,
  ): string | undefined {
    if (checkPublishChannel(channel) !== undefined || this.broker.checkNameLimits(channel) !== undefined)
      return 'presence on a channel no client can name';
    if (
      connectionId === '' ||
      connectionId.length > MAX_REMOTE_ID_CHARS ||
      (user?.length ?? 0) > MAX_REMOTE_ID_CHARS
    )
      return 'presence ids too long';
    if ((data?.length ?? 0) > this.maxRemoteDataBytes)
      return `presence data over ${this.maxRemoteDataBytes} bytes`;
    return undefined;
  }

  private deliver(event: PresenceEvent | undefined): undefined {
    if (event !== undefined) this.broker.deliverRemote(event);
    return undefined;
  }

  private scheduleList(): undefined {
    if (this.listTimer !== undefined) return;
    const wait = Math.max(LIST_COALESCE_MS, this.lastListAt + LIST_MIN_INTERVAL_MS - Date.now());
    this.listTimer = setTimeout(() => {
      this.listTimer = undefined;
      this.sendList();
    }, wait);
  }

  /** This node's members, in parts (an empty list says "none"). */
  private sendList(): void {
    this.lastListAt = Date.now();
    this.listsSentAt.push(this.lastListAt);
    if (this.listsSentAt.length > 16) this.listsSentAt.shift();
    const n = ++this.listNumber;
    let part: SnapshotMember[] = [];
    let bytes = 0;
    for (const { channel, member, bytes: size } of this.broker.presence.localMembers()) {
      if (part.length >= SNAPSHOT_CHUNK_MEMBERS || (part.length > 0 && bytes + size > SNAPSHOT_CHUNK_BYTES)) {
        this.send({ y: 's', n, f: false, m: part });
        part = [];
        bytes = 0;
      }
      const data = member.data === undefined ? null : msgpack.pack(member.data);
      part.push([channel, member.connectionId, member.user ?? null, data, size]);
      bytes += size;
    }
    this.send({ y: 's', n, f: true, m: part });
  }

  /** A part of `origin`'s member list: joins for the new, and on the last part, leaves for the gone. */
  private receiveList(origin: string, n: number, final: boolean, members: SnapshotMember[]): undefined {
    let list = this.incoming.get(origin);
    if (list === undefined || list.n !== n) {
      this.forgetList(origin);
      list = { n, seen: new Map(), count: 0 };
      this.incoming.set(origin, list);
    }
    for (const [channel, connectionId, user, data, bytes] of members) {
      const event = this.join(origin, channel, connectionId, user, data, bytes, true);
      if (typeof event !== 'string') this.deliver(event);
      // Lists longer than the members kept, all lists together, are not remembered past them:
      // unfinished lists from many origins (a hostile writer) would otherwise add up.
      if (this.incomingCount >= MAX_REMOTE_MEMBERS) continue;
      list.count++;
      this.incomingCount++;
      let ids = list.seen.get(channel);
      if (ids === undefined) {
        ids = new Set();
        list.seen.set(channel, ids);
      }
      ids.add(connectionId);
    }
    if (!final) return;
    this.forgetList(origin);
    for (const [channel, ids] of this.broker.remotePresence.membersOf(origin)) {
      const seen = list.seen.get(channel);
      for (const id of ids) {
        if (seen?.has(id) !== true) this.deliver(this.broker.remotePresence.leave(origin, channel, id));
      }
    }
  }

  private forgetList(origin: string): void {
    const list = this.incoming.get(origin);
    if (list === undefined) return;
    this.incoming.delete(origin);
    this.incomingCount -= list.count;
  }
}
