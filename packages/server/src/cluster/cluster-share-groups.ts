import { type Message, Publication, type Subscriber, TopicIndex, isSingle } from '@pulse/core';
import type { ControlFeature, UncheckedControl } from './control-bus.js';
import {
  LIST_PART_BYTES,
  MAX_IDS_PER_MESSAGE,
  SHARE_GROUP_TYPES,
  type ShareAssignment,
  type ShareGroupMessage,
  checkShareGroupMessage,
} from './share-group-messages.js';

/** (node, group) pairs of other nodes remembered at most; past it a node's new groups are ignored. */
export const MAX_REMOTE_GROUPS = 100_000;
/** Bytes of their group ids at most. */
export const MAX_REMOTE_GROUP_BYTES = 16 * 1024 * 1024;
/** A list asked for by several nodes at once is sent once. */
const LIST_COALESCE_MS = 50;
/** How often the groups of nodes no longer alive are forgotten. */
const SWEEP_MS = 5000;

/** One group as held by other nodes: indexed under its filter, so that a channel finds it. */
class RemoteGroup implements Subscriber {
  readonly nodes = new Set<string>();
  constructor(
    readonly id: string,
    readonly filter: string,
  ) {}
  deliver(): void {}
}

export interface ShareGroupsHost {
  readonly nodeId: string;
  /** True while the engine is connected: else every node delivers to its own members. */
  connected(): boolean;
  /** True when node `id` is alive (heard from within cluster.presence_ttl_ms). */
  isPeer(id: string): boolean;
  /** Resolves once the engine holds this node's interest as it is now. */
  settled(): Promise<void>;
  send(message: ShareGroupMessage): void;
}

/**
 * `$share/{group}/{filter}` across nodes: one delivery per group in the cluster
 * (docs/CLUSTER.md, "Shared groups"). Each node tells the others which groups have members on
 * it. The node where a publication is made picks, for each group its channel matches, one of
 * the live nodes with members (round robin over them, this node included), delivers to its
 * own members of the groups it picked itself for, and the envelope says which node delivers
 * which group (`g`). A receiving node delivers to a group of its own when the envelope gives
 * it that group, or when the envelope does not name the group at all (the publishing node
 * did not know of it yet: better twice than never).
 */
export class ClusterShareGroups implements ControlFeature {
  readonly types = SHARE_GROUP_TYPES;
  /** Groups with members here. */
  private readonly local = new Set<string>();
  /** Of those, the ones the other nodes were told of. */
  private readonly announced = new Set<string>();
  private readonly remote = new Map<string, RemoteGroup>();
  private readonly remoteIndex = new TopicIndex();
  private readonly byNode = new Map<string, Set<string>>();
  private remoteCount = 0;
  private remoteBytes = 0;
  /** Round-robin turn of each group. */
  private readonly turns = new Map<string, number>();
  /** The local publication being fanned out, and the node picked for each group so far. */
  private current: Message | undefined;
  private picked = new Map<string, string>();
  /** Assignments of history channels' publications, delivered after they crossed. */
  private readonly records = new WeakMap<Publication, ShareAssignment>();
  /** The other node's publication being delivered, and its assignment. */
  private incoming: Message | undefined;
  private incomingAssignment: ShareAssignment | undefined;
  private mine: Set<string> | undefined;
  private listed: Set<string> | undefined;
  /** Lists being received: their number and the groups so far. */
  private readonly lists = new Map<string, { n: number; ids: Set<string> }>();
  private listTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private listNumber = 0;
  /** Groups of other nodes ignored for the bounds. */
  ignored = 0;

  constructor(private readonly host: ShareGroupsHost) {}

  start(): void {
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweepTimer.unref();
  }

  close(): void {
    clearInterval(this.sweepTimer);
    clearTimeout(this.listTimer);
  }

  /** (Re)joined: ask for everyone's groups and tell ours. */
  connected(): void {
    this.host.send({ y: 'gq' });
    this.sendList();
  }

  groupAdded(id: string): void {
    this.local.add(id);
    // Told once the engine holds the group's filter: a node picked for a group must get the publication.
    this.host.settled().then(() => {
      if (!this.local.has(id) || this.announced.has(id)) return;
      this.announced.add(id);
      this.host.send({ y: 'ga', i: [id] });
    });
  }

  groupRemoved(id: string): void {
    this.local.delete(id);
    if (!this.remote.has(id)) this.turns.delete(id);
    if (this.announced.delete(id)) this.host.send({ y: 'gd', i: [id] });
  }

  /** How many other live nodes are known to hold group `id`. */
  nodesHolding(id: string): number {
    let count = 0;
    for (const node of this.remote.get(id)?.nodes ?? []) if (this.host.isPeer(node)) count++;
    return count;
  }

  /** See ClusterHooks.deliversGroup. */
  deliversGroup(message: Message, id: string): boolean {
    if (!(message instanceof Publication) || message.channel.startsWith('$')) return true;
    if (message === this.incoming) return this.assignedHere(id);
    // A history channel's publication is delivered after it crossed (shared-history.ts), here
    // and on every node: by the assignment it crossed with, if any.
    if (message.epoch !== undefined) return assignedIn(this.records.get(message), this.host.nodeId, id);
    if (!this.host.connected()) return true;
    if (message !== this.current) {
      this.current = message;
      this.picked = new Map();
    }
    if (this.picked.size >= MAX_IDS_PER_MESSAGE) return true;
    const node = this.pick(id, true);
    this.picked.set(id, node);
    return node === this.host.nodeId;
  }

  /**
   * The assignment of a local publication about to cross (after its local fan-out): the groups
   * picked during the fan-out and those only other nodes hold. Undefined when no group matched.
   */
  assignmentOf(publication: Publication): ShareAssignment | undefined {
    const assignment = this.assign(publication);
    if (assignment !== undefined && publication.epoch !== undefined)
      this.records.set(publication, assignment);
    return assignment;
  }

  /** Another node's publication on a history channel, delivered later (in offset order). */
  noteRemote(publication: Publication, assignment: ShareAssignment): void {
    this.records.set(publication, assignment);
  }

  private assign(publication: Publication): ShareAssignment | undefined {
    const picked = this.current === publication ? this.picked : undefined;
    this.current = undefined;
    if (this.remote.size > 0 && !publication.channel.startsWith('$')) {
      const targets = this.remoteIndex.targetsOf(publication.channel);
      if (targets !== undefined) {
        const all = picked ?? new Map<string, string>();
        for (const target of isSingle(targets) ? [targets] : targets) {
          const group = target as RemoteGroup;
          if (all.has(group.id) || all.size >= MAX_IDS_PER_MESSAGE) continue;
          all.set(group.id, this.pick(group.id, this.local.has(group.id)));
        }
        return toAssignment(all);
      }
    }
    return picked === undefined || picked.size === 0 ? undefined : toAssignment(picked);
  }

  /** Another node's publication is being delivered here (until `remoteDone`), under `assignment`. */
  remoteDelivery(message: Message, assignment: ShareAssignment | undefined): void {
    this.incoming = message;
    this.incomingAssignment = assignment;
    this.mine = undefined;
    this.listed = undefined;
  }

  remoteDone(): void {
    this.incoming = undefined;
    this.incomingAssignment = undefined;
    this.mine = undefined;
    this.listed = undefined;
  }

  private assignedHere(id: string): boolean {
    const assignment = this.incomingAssignment;
    if (assignment === undefined) return true;
    if (this.listed === undefined) {
      this.mine = new Set(assignment[this.host.nodeId] ?? []);
      this.listed = new Set(Object.values(assignment).flat());
    }
    return this.mine?.has(id) === true || !this.listed.has(id);
  }

  /** The node that delivers the next publication to group `id`: the next live one with members. */
  private pick(id: string, here: boolean): string {
    const nodes: string[] = [];
    const group = this.remote.get(id);
    if (group !== undefined) {
      for (const node of group.nodes) if (this.host.isPeer(node)) nodes.push(node);
    }
    if (here) nodes.push(this.host.nodeId);
    if (nodes.length === 0) return this.host.nodeId;
    const turn = this.turns.get(id) ?? 0;
    this.turns.set(id, turn + 1 >= Number.MAX_SAFE_INTEGER ? 0 : turn + 1);
    return nodes[turn % nodes.length] as string;
  }

  receive(origin: string, unchecked: UncheckedControl): string | undefined {
    const message = checkShareGroupMessage(unchecked);
    if (typeof message === 'string') return message;
    switch (message.y) {
      case 'ga':
        for (const id of message.i) this.addRemote(origin, id);
        return undefined;
      case 'gd':
        for (const id of message.i) this.removeRemote(origin, id);
        return undefined;
      case 'gq':
        this.listTimer ??= setTimeout(() => {
          this.listTimer = undefined;
          this.sendList();
        }, LIST_COALESCE_MS);
        return undefined;
      case 'gs':
        return this.receiveList(origin, message.n, message.f, message.i);
    }
  }

  private receiveList(origin: string, n: number, final: boolean, ids: string[]): undefined {
    let list = this.lists.get(origin);
    if (list === undefined || list.n !== n) {
      list = { n, ids: new Set() };
      this.lists.set(origin, list);
    }
    for (const id of ids) {
      if (this.addRemote(origin, id)) list.ids.add(id);
    }
    if (!final) return undefined;
    this.lists.delete(origin);
    for (const id of [...(this.byNode.get(origin) ?? [])]) {
      if (!list.ids.has(id)) this.removeRemote(origin, id);
    }
    return undefined;
  }

  /** True when `origin` is known to hold `id` (now or already). */
  private addRemote(origin: string, id: string): boolean {
    let ids = this.byNode.get(origin);
    if (ids?.has(id)) return true;
    if (this.remoteCount >= MAX_REMOTE_GROUPS || this.remoteBytes + id.length > MAX_REMOTE_GROUP_BYTES) {
      this.ignored++;
      return false;
    }
    if (ids === undefined) {
      ids = new Set();
      this.byNode.set(origin, ids);
    }
    ids.add(id);
    this.remoteCount++;
    this.remoteBytes += id.length;
    let group = this.remote.get(id);
    if (group === undefined) {
      // `$share/{group}/{filter}`: the filter follows the second slash.
      const filter = id.slice(id.indexOf('/', '$share/'.length) + 1);
      group = new RemoteGroup(id, filter);
      this.remote.set(id, group);
      this.remoteIndex.add(filter, group);
    }
    group.nodes.add(origin);
    return true;
  }

  private removeRemote(origin: string, id: string): void {
    const ids = this.byNode.get(origin);
    if (ids === undefined || !ids.delete(id)) return;
    if (ids.size === 0) this.byNode.delete(origin);
    this.remoteCount--;
    this.remoteBytes -= id.length;
    const group = this.remote.get(id);
    if (group === undefined) return;
    group.nodes.delete(origin);
    if (group.nodes.size > 0) return;
    this.remote.delete(id);
    this.remoteIndex.remove(group.filter, group);
    if (!this.local.has(id)) this.turns.delete(id);
  }

  /** Forgets the groups of nodes no longer alive (they tell them again when they come back). */
  private sweep(): void {
    for (const [node, ids] of [...this.byNode]) {
      if (this.host.isPeer(node)) continue;
      this.lists.delete(node);
      for (const id of [...ids]) this.removeRemote(node, id);
    }
  }

  /** This node's groups, in parts (an empty list says "none"). */
  private sendList(): void {
    const n = ++this.listNumber;
    let part: string[] = [];
    let bytes = 0;
    for (const id of this.local) {
      if (part.length >= MAX_IDS_PER_MESSAGE || (part.length > 0 && bytes + id.length > LIST_PART_BYTES)) {
        this.host.send({ y: 'gs', n, f: false, i: part });
        part = [];
        bytes = 0;
      }
      part.push(id);
      bytes += id.length;
      this.announced.add(id);
    }
    this.host.send({ y: 'gs', n, f: true, i: part });
  }
}

/** Whether node `self` delivers to its group `id` under `assignment` (none: every node delivers). */
function assignedIn(assignment: ShareAssignment | undefined, self: string, id: string): boolean {
  if (assignment === undefined) return true;
  if (assignment[self]?.includes(id) === true) return true;
  for (const ids of Object.values(assignment)) if (ids.includes(id)) return false;
  return true;
}

function toAssignment(picked: Map<string, string>): ShareAssignment {
  const assignment: ShareAssignment = {};
  for (const [id, node] of picked) {
    const ids = assignment[node];
    if (ids === undefined) assignment[node] = [id];
    else ids.push(id);
  }
  return assignment;
}
