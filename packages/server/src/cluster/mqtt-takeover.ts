import { randomBytes } from 'node:crypto';
import type { InflightRecord, LoadedSession, QueuedRecord, Refusal, StoredSubscription } from '@pulse/core';
import type { ClaimOutcome } from '../mqtt/mqtt-cluster-hooks.js';
import type { ControlFeature, UncheckedControl } from './control-bus.js';
import { MAX_ORIGINS } from './origin-sequences.js';
import { type Stamp, isNewer, stampAfter } from './retained-messages.js';
import {
  type SessionHeader,
  TAKEOVER_TYPES,
  type TakeoverMessage,
  type TransferRules,
  checkTakeoverMessage,
  partSize,
  sessionParts,
} from './takeover-messages.js';

/** How long a CONNECT waits for the other nodes to answer its claim (ms) before it gets a new session. */
export const TAKEOVER_WAIT_MS = 1500;
/** While a session's parts keep coming, the wait goes on, up to this (ms) from the CONNECT. */
export const MAX_TRANSFER_WAIT_MS = 10_000;
/** Claims waiting at once; past it a CONNECT does not wait (a flood of CONNECTs holds no more). */
const MAX_PENDING_CLAIMS = 10_000;
/** Newer claims of another node held until this node's own claim of the same id is done. */
const MAX_DEFERRED = 16;
/** How far ahead of this node's clock another node's claim time is believed (ms). */
const MAX_CLAIM_SKEW_MS = 10_000;
/**
 * A claim made here is remembered this long once done (ms), at most MAX_PENDING_CLAIMS of them:
 * an older claim of the same id that arrives meanwhile is answered as while it waited. Past it,
 * such a claim has run out of time on its own node too.
 */
const REMEMBERED_MS = MAX_TRANSFER_WAIT_MS;
/**
 * For this long after the engine (re)connects (ms), a CONNECT waits even with no other node heard
 * of yet: they answer this node's hello with their member lists within it (after 50 ms, or up to
 * 1 s when they sent one for another node just before), and a session one of them holds would be
 * handed to a claim no one waits for, and lost.
 */
const JOIN_SETTLE_MS = 1000;

/** What the takeover needs of the MQTT broker (MqttService). */
export interface TakeoverHost {
  readonly sessions: { has(clientId: string): boolean };
  /** The authenticated user whose session holds `clientId`, if any. */
  sessionOwner(clientId: string): string | undefined;
  releaseSession(
    clientId: string,
    cleanStart: boolean,
    user: string | undefined,
  ): LoadedSession | 'none' | 'owned';
  adoptSession(loaded: LoadedSession): void;
  checkTopic(topic: string): Refusal | undefined;
}

export interface TakeoverLimits {
  /** mqtt.max_packet_size */
  readonly maxPayloadBytes: number;
  /** Payload and topic bytes of one session handed over; a larger one is refused (a new session starts). */
  readonly maxTransferBytes: number;
  /** Subscriptions, messages and packet ids of one session handed over. */
  readonly maxTransferRecords: number;
  readonly waitMs: number;
}

interface Transfer {
  readonly from: string;
  next: number;
  failed: boolean;
  /** The last part came. */
  complete: boolean;
  header: SessionHeader | undefined;
  readonly subscriptions: StoredSubscription[];
  readonly queue: QueuedRecord[];
  readonly inflight: InflightRecord[];
  readonly incomingQos2: number[];
  bytes: number;
  records: number;
}

type ClaimMessage = Extract<TakeoverMessage, { y: 'mt' }>;
type PartMessage = Extract<TakeoverMessage, { y: 'ms' }>;

interface Claim {
  readonly id: string;
  readonly clientId: string;
  readonly stamp: Stamp;
  readonly startedAt: number;
  /**
   * The nodes heard from recently (cluster presence), and those whose older claim this one was
   * told about: the claim is done once each has answered.
   */
  readonly expected: Set<string>;
  /** Nodes that answered (even after the claim was done): a claim of theirs since is newer. */
  readonly answered: Set<string>;
  /** Done (its CONNECT goes on); then remembered for REMEMBERED_MS. */
  doneAt: number | undefined;
  /**
   * Made just after joining, with no other node heard of: not done on answers before the end of
   * JOIN_SETTLE_MS, then waiting for the nodes heard of by then.
   */
  settling: boolean;
  transfer: Transfer | undefined;
  outcome: ClaimOutcome;
  /** Newer claims of the same id by other nodes: answered once this one is done. */
  readonly deferred: { origin: string; message: ClaimMessage }[];
  timer: NodeJS.Timeout | undefined;
  resolve: (outcome: ClaimOutcome) => void;
  readonly done: Promise<ClaimOutcome>;
}

type Send = (message: TakeoverMessage, to?: string) => void;

/**
 * One MQTT client id per cluster (docs/CLUSTER.md, "MQTT across nodes"). A CONNECT here tells
 * every node "client id X connects here" and waits (bounded) for their answers; the node that
 * holds X's session disconnects its client (0x8E) and hands the session over, in parts: its
 * subscriptions, queue, messages in flight and the QoS 2 ids awaiting PUBREL, which this node
 * installs before the CONNACK (session present). Clean start ends the session where it is.
 * Two CONNECTs of one id on two nodes at once: the later claim wins; the earlier one completes
 * first and is then taken over by it, so one session remains. "Later" (isLater): made after its
 * node answered the other (messages of one node arrive in order), else the later stamp, a
 * Lamport time (a claim made here is stamped after every claim of another node seen here), then
 * the node id.
 */
export class ClientIdTakeover implements ControlFeature {
  readonly types = TAKEOVER_TYPES;
  /** By client id: the claim waiting, or done and its CONNECT not yet attached. */
  private readonly pending = new Map<string, Claim>();
  /** By claim id: the claims waiting, and those done within REMEMBERED_MS. */
  private readonly byId = new Map<string, Claim>();
  /** By client id: the last claim made here, done within REMEMBERED_MS. */
  private readonly lastDone = new Map<string, Claim>();
  /** The claims done within REMEMBERED_MS, the oldest first. */
  private readonly done = new Map<string, Claim>();
  private readonly rules: TransferRules;
  /**
   * The latest time of another node's claim seen here (bounded by MAX_CLAIM_SKEW_MS ahead of
   * this clock). A claim made here is stamped later than it: a node that answered "nothing here"
   * to a claim and then claims the id itself (the same millisecond, a slower clock) must win
   * against it, or the claimant, told "nothing here", keeps its session beside this one.
   */
  private lastForeignClaimT = 0;
  /** When the engine last (re)connected. */
  private joinedAt = Number.NEGATIVE_INFINITY;
  readonly stats = { claims: 0, handedOver: 0, received: 0, timeouts: 0, refused: 0, late: 0 };

  constructor(
    private readonly host: TakeoverHost,
    private readonly nodeId: string,
    private readonly send: Send,
    private readonly peers: () => Iterable<string>,
    private readonly engineUp: () => boolean,
    private readonly limits: TakeoverLimits,
  ) {
    this.rules = { checkTopic: (topic) => host.checkTopic(topic), maxPayloadBytes: limits.maxPayloadBytes };
  }

  /** See MqttClusterHooks.claim. */
  claim(clientId: string, cleanStart: boolean, user: string | undefined): Promise<ClaimOutcome> | undefined {
    // A second CONNECT of the id here while the first waits: it follows the first (and takes it over).
    const earlier = this.pending.get(clientId);
    if (earlier !== undefined) return earlier.done;
    if (!this.engineUp()) return undefined;
    const now = Date.now();
    this.forgetDone(now);
    const stamp = stampAfter(this.lastForeignClaimT, this.nodeId);
    const id = randomBytes(9).toString('base64url');
    const message: ClaimMessage = { y: 'mt', k: id, c: clientId, s: cleanStart, u: user, t: stamp.t };
    this.stats.claims++;
    let resolve: (outcome: ClaimOutcome) => void = () => {};
    const done = new Promise<ClaimOutcome>((r) => {
      resolve = r;
    });
    const claim: Claim = {
      id,
      clientId,
      stamp,
      startedAt: now,
      expected: new Set(this.peers()),
      answered: new Set(),
      doneAt: undefined,
      settling: false,
      transfer: undefined,
      outcome: 'ok',
      deferred: [],
      timer: undefined,
      resolve,
      done,
    };
    this.byId.set(id, claim);
    const sinceJoin = now - this.joinedAt;
    claim.settling = claim.expected.size === 0 && sinceJoin < JOIN_SETTLE_MS;
    // Held here, or no one else to ask: no wait. The claim still goes out, so that a stale copy
    // elsewhere (a node back from the dead with its store) ends.
    if (
      this.host.sessions.has(clientId) ||
      (claim.expected.size === 0 && !claim.settling) ||
      this.pending.size >= MAX_PENDING_CLAIMS
    ) {
      this.remember(claim, now);
      this.send(message);
      return undefined;
    }
    this.pending.set(clientId, claim);
    const waitMs = this.limits.waitMs;
    this.waitUntil(claim, claim.settling ? Math.min(waitMs, JOIN_SETTLE_MS - sinceJoin) : waitMs);
    this.send(message);
    return done;
  }

  receive(origin: string, unchecked: UncheckedControl): string | undefined {
    const message = checkTakeoverMessage(unchecked, this.rules);
    if (typeof message === 'string') return message;
    switch (message.y) {
      case 'mt':
        this.onClaim(origin, message);
        return undefined;
      case 'mn': {
        const claim = this.byId.get(message.k);
        if (claim === undefined) return undefined;
        addNode(claim.answered, origin);
        if (claim.doneAt !== undefined) return undefined;
        if (message.r === 'owned') {
          claim.outcome = 'owned';
          this.finish(claim);
        } else this.finishIfAllAnswered(claim);
        return undefined;
      }
      case 'ms':
        this.onPart(origin, message);
        return undefined;
    }
  }

  /** The engine (re)connected: the other nodes are heard of again within JOIN_SETTLE_MS. */
  connected(): void {
    this.joinedAt = Date.now();
  }

  /** Stopping: CONNECTs waiting go on with what they have. */
  close(): void {
    for (const claim of [...this.pending.values()]) this.finish(claim);
  }

  private onClaim(origin: string, message: ClaimMessage): void {
    const now = Date.now();
    if (message.t > this.lastForeignClaimT) {
      this.lastForeignClaimT = Math.min(message.t, now + MAX_CLAIM_SKEW_MS);
    }
    const mine = this.pending.get(message.c);
    if (mine !== undefined) {
      // Both nodes claim the id: the later claim wins. An earlier one is told there is nothing
      // here (this node has no session of it yet) and owes this one its answer; a later one is
      // answered once this one is done and its CONNECT has the session.
      if (this.isLater(origin, message, mine)) {
        if (mine.deferred.length < MAX_DEFERRED) mine.deferred.push({ origin, message });
        return;
      }
      addNode(mine.expected, origin);
      return this.send({ y: 'mn', k: message.k, r: 'none' }, origin);
    }
    this.forgetDone(now);
    const last = this.lastDone.get(message.c);
    if (last?.expected.has(origin) === true && !this.isLater(origin, message, last)) {
      // An earlier claim of a node that was asked, arriving after this node's claim was done:
      // that node holds this node's claim until its own is done and then hands over (too late,
      // dropped). Handing the session to it now would lose the session between the two.
      const owner = this.host.sessionOwner(message.c);
      const r = owner !== undefined && owner !== message.u ? 'owned' : 'none';
      return this.send({ y: 'mn', k: message.k, r }, origin);
    }
    const result = this.host.releaseSession(message.c, message.s, message.u);
    if (typeof result === 'string') return this.send({ y: 'mn', k: message.k, r: result }, origin);
    this.stats.handedOver++;
    for (const part of sessionParts(message.k, result)) this.send(part, origin);
  }

  /**
   * Whether `message` of `origin` is a later claim than `mine`: made after `origin` answered
   * `mine` (it had seen it, whatever the stamps say: a clock more than MAX_CLAIM_SKEW_MS ahead),
   * else the later stamp (Lamport: after every claim `origin` had seen).
   */
  private isLater(origin: string, message: ClaimMessage, mine: Claim): boolean {
    return mine.answered.has(origin) || isNewer({ t: message.t, o: origin }, mine.stamp);
  }

  private onPart(origin: string, part: PartMessage): void {
    const claim = this.byId.get(part.k);
    if (claim !== undefined) addNode(claim.answered, origin);
    if (claim === undefined || claim.doneAt !== undefined) {
      // Its claim ran out of time: the node that sent it has let it go (docs/CLUSTER.md).
      if (part.i === 0) this.stats.late++;
      return;
    }
    let transfer = claim.transfer;
    if (transfer === undefined) {
      if (part.i !== 0) return;
      transfer = {
        from: origin,
        next: 0,
        failed: false,
        complete: false,
        header: undefined,
        subscriptions: [],
        queue: [],
        inflight: [],
        incomingQos2: [],
        bytes: 0,
        records: 0,
      };
      claim.transfer = transfer;
      // A session is coming: its parts set the wait from now on.
      claim.settling = false;
    }
    // A second node handing over a copy (after a split): the first one's is kept.
    if (transfer.from !== origin || transfer.failed) return;
    const size = partSize(part);
    transfer.bytes += size.bytes;
    transfer.records += size.records;
    if (
      part.i !== transfer.next ||
      transfer.bytes > this.limits.maxTransferBytes ||
      transfer.records > this.limits.maxTransferRecords
    ) {
      transfer.failed = true;
      this.stats.refused++;
      return this.finish(claim);
    }
    transfer.next++;
    if (part.h !== undefined) transfer.header = part.h;
    if (part.b !== undefined) transfer.subscriptions.push(...part.b);
    if (part.q !== undefined) transfer.queue.push(...part.q);
    if (part.l !== undefined) transfer.inflight.push(...part.l);
    if (part.r !== undefined) transfer.incomingQos2.push(...part.r);
    if (part.f) {
      transfer.complete = true;
      return this.finish(claim);
    }
    // Parts keep coming: the wait goes on, up to MAX_TRANSFER_WAIT_MS from the CONNECT.
    const cap = claim.startedAt + MAX_TRANSFER_WAIT_MS - Date.now();
    this.waitUntil(claim, Math.min(this.limits.waitMs, cap));
  }

  private waitUntil(claim: Claim, ms: number): void {
    clearTimeout(claim.timer);
    claim.timer = setTimeout(() => this.waitOver(claim), Math.max(0, ms));
    claim.timer.unref();
  }

  private waitOver(claim: Claim): void {
    if (claim.settling) {
      // The nodes there have answered this node's hello by now: wait for them as any claim does.
      claim.settling = false;
      for (const node of this.peers()) addNode(claim.expected, node);
      if (this.allAnswered(claim)) return this.finish(claim);
      const left = claim.startedAt + this.limits.waitMs - Date.now();
      if (left > 0) return this.waitUntil(claim, left);
    }
    this.stats.timeouts++;
    this.finish(claim);
  }

  private allAnswered(claim: Claim): boolean {
    for (const node of claim.expected) if (!claim.answered.has(node)) return false;
    return true;
  }

  private finishIfAllAnswered(claim: Claim): void {
    if (claim.transfer === undefined && !claim.settling && this.allAnswered(claim)) this.finish(claim);
  }

  private finish(claim: Claim): void {
    if (claim.doneAt !== undefined) return;
    clearTimeout(claim.timer);
    const now = Date.now();
    this.forgetDone(now);
    this.remember(claim, now);
    const transfer = claim.transfer;
    // Remembered for REMEMBERED_MS, the claim does not keep the session's parts that long.
    claim.transfer = undefined;
    if (transfer?.complete === true && transfer.header !== undefined) {
      this.stats.received++;
      this.host.adoptSession({
        // The client id is the claim's, whatever the parts said.
        session: { ...transfer.header, clientId: claim.clientId, subscriptions: transfer.subscriptions },
        queue: transfer.queue,
        inflight: transfer.inflight,
        incomingQos2: transfer.incomingQos2,
      });
    }
    claim.resolve(claim.outcome);
    // The claim stands until the CONNECT it held has attached (its continuation runs before
    // this): a claim read in the same turn (with the session's last part, say) waits for it
    // like those deferred, or would take the session from under that CONNECT, which would then
    // start a new one beside it.
    setImmediate(() => {
      if (this.pending.get(claim.clientId) === claim) this.pending.delete(claim.clientId);
      for (const { origin, message } of claim.deferred) this.onClaim(origin, message);
    });
  }

  /** `claim` is done: remembered, as the last claim of its id made here, for REMEMBERED_MS. */
  private remember(claim: Claim, now: number): void {
    claim.doneAt = now;
    this.done.set(claim.id, claim);
    this.lastDone.set(claim.clientId, claim);
  }

  /** Forgets the claims done more than REMEMBERED_MS ago, and the oldest past MAX_PENDING_CLAIMS. */
  private forgetDone(now: number): void {
    for (const [id, claim] of this.done) {
      if (now - (claim.doneAt as number) < REMEMBERED_MS && this.done.size <= MAX_PENDING_CLAIMS) return;
      this.done.delete(id);
      this.byId.delete(id);
      if (this.lastDone.get(claim.clientId) === claim) this.lastDone.delete(claim.clientId);
    }
  }
}

/** Adds a node to a claim's set, up to MAX_ORIGINS (a writer on the engine can name any number). */
function addNode(nodes: Set<string>, node: string): void {
  if (nodes.size < MAX_ORIGINS) nodes.add(node);
}
