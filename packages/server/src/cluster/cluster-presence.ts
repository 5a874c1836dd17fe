import { type Broker, MAX_REMOTE_MEMBERS, type PresenceEvent } from '@pulse/core';
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
  private timer: NodeJS.Timeout | undefined;
  private listTimer: NodeJS.Timeout | undefined;
  private listNumber = 0;
  /** Control messages refused (malformed data, too many nodes). */
  rejected = 0;

  constructor(
    private readonly broker: Broker,
    private readonly send: (message: PresenceMessage) => void,
    private readonly ttlMs: number,
  ) {}

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
    this.lastHeard.set(origin, now);
    this.apply(origin, message);
    return undefined;
  }

  /** The other nodes heard from within the TTL (their ids). */
  peers(): IterableIterator<string> {
    return this.lastHeard.keys();
  }

  /** True when node `id` was heard from within the TTL. */
  isPeer(id: string): boolean {
    return this.lastHeard.has(id);
  }

  private apply(origin: string, message: PresenceMessage): void {
    switch (message.y) {
      case 'j':
        return this.deliver(this.join(origin, message.c, message.i, message.u, message.d, message.b, false));
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
    this.incoming.delete(origin);
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
  ): PresenceEvent | undefined {
    let decoded: Record<string, unknown> | undefined;
    if (data !== null && data !== undefined) {
      const problem = plainMessagePackProblem(data, MAX_DATA_DEPTH);
      const value = problem === undefined ? msgpack.unpack(data) : undefined;
      if (!isMap(value)) {
        this.rejected++;
        return undefined;
      }
      decoded = value;
    }
    const member = { node: origin, connectionId, user: user ?? undefined, data: decoded, bytes };
    return this.broker.remotePresence.join(member, channel, quiet);
  }

  private deliver(event: PresenceEvent | undefined): void {
    if (event !== undefined) this.broker.deliverRemote(event);
  }

  private scheduleList(): void {
    this.listTimer ??= setTimeout(() => {
      this.listTimer = undefined;
      this.sendList();
    }, LIST_COALESCE_MS);
  }

  /** This node's members, in parts (an empty list says "none"). */
  private sendList(): void {
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
  private receiveList(origin: string, n: number, final: boolean, members: SnapshotMember[]): void {
    let list = this.incoming.get(origin);
    if (list === undefined || list.n !== n) {
      list = { n, seen: new Map(), count: 0 };
      this.incoming.set(origin, list);
    }
    for (const [channel, connectionId, user, data, bytes] of members) {
      this.deliver(this.join(origin, channel, connectionId, user, data, bytes, true));
      // A list longer than the members kept is not remembered past them (a hostile writer).
      if (list.count >= MAX_REMOTE_MEMBERS) continue;
      list.count++;
      let ids = list.seen.get(channel);
      if (ids === undefined) {
        ids = new Set();
        list.seen.set(channel, ids);
      }
      ids.add(connectionId);
    }
    if (!final) return;
    this.incoming.delete(origin);
    for (const [channel, ids] of this.broker.remotePresence.membersOf(origin)) {
      const seen = list.seen.get(channel);
      for (const id of ids) {
        if (seen?.has(id) !== true) this.deliver(this.broker.remotePresence.leave(origin, channel, id));
      }
    }
  }
}
