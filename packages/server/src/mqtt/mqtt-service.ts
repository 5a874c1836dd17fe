import { randomBytes } from 'node:crypto';
import {
  type Broker,
  isServerChannel,
  type LoadedSession,
  MemoryRetainedStore,
  namesChecked,
  Publication,
  publicationOf,
  Refusal,
  type RetainedStore,
  type RetainOutcome,
  type Store,
  type StoredState,
  storedMessageOf,
} from '@pulse/core';
import { ErrorCode, type UserPropertyLimits } from '@pulse/protocol';
import type { AuthService } from '../auth/auth-service.js';
import type { ChannelOperations } from '../channels/channel-operations.js';
import type { PulseConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import type { Connection } from '../transport/connection.js';
import type { ConnectionFaults } from '../transport/connection-faults.js';
import { publisherPausePolicy } from '../transport/pause-allowance.js';
import type { PauseStats } from '../transport/publisher-pause.js';
import type { FlushScheduler } from '../transport/flush-scheduler.js';
import { MqttLink } from './mqtt-link.js';
import type { MqttLinkHost } from './mqtt-link-host.js';
import { LongTimer } from '../util/long-timer.js';
import { MqttStats } from './mqtt-stats.js';
import { MqttSession, NEVER_EXPIRES } from './session.js';
import { SessionJournal } from './session-journal.js';
import { SysTopics } from './sys-topics.js';
import { checkMqttFilter, checkMqttTopic } from './topic-rules.js';
import type { Will } from './will.js';
import type { ClaimOutcome, MqttClusterHooks } from './mqtt-cluster-hooks.js';

export interface MqttServiceOptions {
  broker: Broker;
  /** Where clients' publications (and wills) are published, as every protocol's are. */
  channels: ChannelOperations;
  config: PulseConfig;
  log: Logger;
  scheduler: FlushScheduler;
  store: Store;
  version: string;
  /** Authentication and authorization; undefined when neither [auth] nor [hooks] is on. */
  auth?: AuthService;
  /** Where exceptions in session timers (expiry, delayed wills, retransmits) are reported. */
  faults: ConnectionFaults;
  /** Counts of publishers paused by full session queues (the MQTT transport's). */
  pauseStats: PauseStats;
}

/**
 * The MQTT broker on the shared router: sessions by client id, wills, retained messages,
 * `$SYS` topics and the optional retransmit timer. Network connections come and go as
 * `MqttLink`s; sessions outlive them when the client asks.
 */
export class MqttService implements MqttLinkHost {
  readonly broker: Broker;
  readonly config: PulseConfig['mqtt'];
  readonly log: Logger;
  readonly stats = new MqttStats();
  readonly retained: RetainedStore;
  readonly sessions = new Map<string, MqttSession>();
  readonly outboundBudget: number;
  readonly userPropertyLimits: UserPropertyLimits;
  readonly store: Store;
  /** Authentication and authorization; undefined when neither [auth] nor [hooks] is on. */
  readonly auth: AuthService | undefined;
  /** The other nodes, when clustered (cluster/mqtt-cluster.ts). */
  cluster: MqttClusterHooks | undefined = undefined;
  private readonly links = new Set<MqttLink>();
  private readonly pendingWills = new Map<string, { timer: LongTimer; will: Will }>();
  private readonly idPrefix = randomBytes(4).toString('hex');
  private nextId = 0;
  private retransmitTimer: NodeJS.Timeout | undefined;
  private readonly sys: SysTopics;
  private readonly sessionPolicy;
  /** Set by stop(): timers of connections closing after it leave the store as it is. */
  private stopped = false;
  private readonly faults: ConnectionFaults;
  private readonly channels: ChannelOperations;

  constructor(options: MqttServiceOptions) {
    this.faults = options.faults;
    this.channels = options.channels;
    this.broker = options.broker;
    this.config = options.config.mqtt;
    this.log = options.log;
    this.outboundBudget = options.config.limits.max_outbound_bytes;
    this.userPropertyLimits = {
      maxCount: this.config.max_user_properties,
      maxBytes: this.config.max_user_property_bytes,
    };
    this.store = options.store;
    this.auth = options.auth;
    this.retained = new MemoryRetainedStore({
      maxMessages: this.config.max_retained_messages,
      maxBytes: this.config.max_retained_bytes,
    });
    this.sessionPolicy = {
      maxQueued: this.config.max_queued_messages,
      maxQueuedBytes: this.config.max_queued_bytes,
      queueQos0Offline: this.config.queue_qos0_offline,
      queueQos0WhenCongested: this.config.slow_consumer_policy === 'queue-offline',
      total: { queued: 0, queuedBytes: 0 },
      maxQueuedTotal: options.config.storage.max_stored_messages,
      maxQueuedBytesTotal: this.config.max_queued_bytes_total,
      onDrop: (reason: string) => this.stats.count(this.stats.dropped, reason),
      publisherPause: publisherPausePolicy(options.config.limits),
      pauseStats: options.pauseStats,
    };
    this.sys = new SysTopics(this, options.version);
  }

  start(): void {
    const interval = this.config.inflight_retransmit_interval_ms;
    if (interval > 0) {
      this.retransmitTimer = setInterval(() => {
        for (const session of this.sessions.values())
          if (session.inflight.size > 0) this.contained(session.clientId, () => session.retransmit(interval));
      }, interval);
      this.retransmitTimer.unref();
    }
    this.sys.start(this.config.sys_interval_ms);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.retransmitTimer);
    this.sys.stop();
    for (const { timer } of this.pendingWills.values()) timer.clear();
    this.pendingWills.clear();
    for (const session of this.sessions.values()) session.expiryTimer?.clear();
  }

  get connectionCount(): number {
    return this.links.size;
  }

  /** Total QoS 1/2 messages awaiting acknowledgement, and waiting in session queues. */
  queueDepths(): { inflight: number; queued: number } {
    let inflight = 0;
    let queued = 0;
    for (const session of this.sessions.values()) {
      inflight += session.inflight.size;
      queued += session.queue.length;
    }
    return { inflight, queued };
  }

  /** Bytes waiting in all session queues together (mqtt.max_queued_bytes_total). */
  get queuedBytes(): number {
    return this.sessionPolicy.total.queuedBytes;
  }

  accept(connection: Connection): MqttLink {
    const link = new MqttLink(connection, this);
    this.links.add(link);
    return link;
  }

  /** See ChannelOperations.interestInForce: when a SUBACK waits for the cluster engine. */
  interestInForce(): Promise<void> | undefined {
    return this.channels.interestInForce();
  }

  /**
   * A topic name a client may publish to (or leave a will on), within limits.max_channel_length
   * and limits.max_topic_levels. The limits first: a long reserved topic is refused as invalid,
   * and so never kept as a topic alias.
   */
  checkTopic(topic: string): Refusal | undefined {
    return this.broker.checkNameLimits(topic) ?? checkMqttTopic(topic);
  }

  /** A topic filter a client may subscribe to, within the same limits. */
  checkFilter(filter: string): Refusal | undefined {
    return checkMqttFilter(filter) ?? this.broker.checkNameLimits(filter);
  }

  /** A Response Topic (PUBLISH or will) within the same limits: a topic it could be answered on. */
  checkResponseTopic(topic: string): Refusal | undefined {
    return this.broker.checkNameLimits(topic);
  }

  /**
   * Routes a client's publication (or a will): retained store first (a full store refuses the
   * publication), then the channel operations' publish (the router, which refuses everything
   * past limits.memory_limit, and the latency note). Returns the number of subscribers reached.
   */
  route(
    publication: Publication,
    /** The topic has passed `checkTopic` already (a client's PUBLISH): not checked again. */
    topicChecked = false,
  ): number | Refusal | Promise<number | Refusal> {
    // Past limits.memory_limit nothing is kept either.
    if (publication.retain && this.broker.overload === undefined) {
      const outcome = this.retain(publication);
      if (outcome === 'full' || outcome === 'over_bytes') {
        this.stats.count(this.stats.retainRefused, outcome === 'full' ? 'messages' : 'bytes');
        return new Refusal(ErrorCode.RateLimited, this.retainedFullMessage(outcome));
      }
    }
    return this.channels.publish(publication, topicChecked ? namesChecked : checkMqttTopic);
  }

  private retainedFullMessage(outcome: 'full' | 'over_bytes'): string {
    return outcome === 'full'
      ? `retained store is full (mqtt.max_retained_messages = ${this.config.max_retained_messages})`
      : `retained store is full (mqtt.max_retained_bytes = ${this.config.max_retained_bytes})`;
  }

  /**
   * Publications of the server itself ($SYS): no client rules apply. Straight to the router,
   * not through the channel operations: no client published them, so they stay out of
   * pulse_publish_latency_seconds, and $SYS describes this node only (never clustered).
   */
  routeInternal(publication: Publication): void {
    if (publication.retain) this.retain(publication);
    this.broker.publish(publication, () => undefined);
  }

  /**
   * Sets the channel's retained message, and stores it unless it is the server's own ($SYS),
   * which stays on this node; the other nodes hear of the others, unless they came from one.
   */
  private retain(publication: Publication, fromPeer = false): RetainOutcome {
    const outcome = this.retained.set(publication);
    if (isServerChannel(publication.channel)) return outcome;
    // The store keeps the retained store's own copy: one copy in memory, not pinning the socket read.
    if (outcome === 'stored')
      this.store.putRetained(storedMessageOf(this.retained.get(publication.channel) as Publication));
    else if (outcome === 'cleared') this.store.deleteRetained(publication.channel);
    else return outcome;
    if (!fromPeer) this.cluster?.retained(publication);
    return outcome;
  }

  /** A retained message (or, empty, its clearing) another node set: kept here as a client's, within the same limits. */
  retainFromPeer(publication: Publication): RetainOutcome {
    return this.retain(publication, true);
  }

  /**
   * A CONNECT for `clientId` would make this node hold more than mqtt.max_sessions sessions.
   * Every session counts, connected or not (one that ends with its connection holds its state
   * meanwhile); taking over a session held here makes none, nor does one that clean start ends.
   */
  sessionsFull(clientId: string): boolean {
    const max = this.config.max_sessions;
    return max > 0 && this.sessions.size >= max && !this.sessions.has(clientId);
  }

  /** See MqttClusterHooks.claim; undefined when not clustered. */
  claimClientId(
    clientId: string,
    cleanStart: boolean,
    user: string | undefined,
  ): Promise<ClaimOutcome> | undefined {
    return this.cluster?.claim(clientId, cleanStart, user);
  }

  /** Rebuilds retained messages, persistent sessions and delayed wills from the store. */
  restore(state: StoredState, nowMs: number): void {
    let overLimit = 0;
    for (const message of state.retained) {
      // mqtt.max_retained_messages or max_retained_bytes may have been lowered since they were stored.
      const outcome = this.retained.set(publicationOf(message));
      if (outcome !== 'full' && outcome !== 'over_bytes') continue;
      this.store.deleteRetained(message.channel);
      overLimit++;
    }
    if (overLimit > 0) {
      this.log.warn(
        {
          dropped: overLimit,
          max_retained_messages: this.config.max_retained_messages,
          max_retained_bytes: this.config.max_retained_bytes,
        },
        'stored retained messages over mqtt.max_retained_messages or mqtt.max_retained_bytes were deleted',
      );
    }
    for (const loaded of state.sessions) {
      this.installSession(loaded, nowMs, () => undefined, false);
      this.stats.sessionsRestored++;
    }
    const maxSessions = this.config.max_sessions;
    if (maxSessions > 0 && this.sessions.size > maxSessions) {
      // Nothing a client stored is deleted for it: new sessions wait until enough have ended.
      this.log.warn(
        { sessions: this.sessions.size, max_sessions: maxSessions },
        'more sessions were stored than mqtt.max_sessions: all are kept, new ones are refused until enough end',
      );
    }
    for (const stored of state.wills) {
      const will: Will = {
        publication: publicationOf(stored.message),
        delaySeconds: 0,
        expirySeconds: stored.expirySeconds,
      };
      if (!this.sessions.has(stored.clientId) && stored.publishAt > nowMs) {
        // Its session is gone: the will was due when the session ended (§3.1.3.2.2).
        this.store.deleteWill(stored.clientId);
        this.publishWill(will);
        continue;
      }
      this.delayWill(stored.clientId, will, stored.publishAt - nowMs);
    }
  }

  /**
   * A loaded session (from the store, or handed over by another node) made live: subscribed
   * (`checkFilter` refuses what may not be), its QoS state rebuilt, its expiry running.
   * `persist`: written to the store whole (a handed-over session is not there yet).
   */
  private installSession(
    loaded: LoadedSession,
    nowMs: number,
    checkFilter: (filter: string) => Refusal | undefined,
    persist: boolean,
  ): MqttSession {
    const { clientId, expiryInterval, subscriptions } = loaded.session;
    const session = this.newSession(clientId);
    session.expiryInterval = expiryInterval;
    session.user = loaded.session.user;
    session.journal = new SessionJournal(this.store, clientId);
    for (const { filter, ...options } of subscriptions) {
      // Limits may have shrunk since the session was stored: what no longer fits is dropped.
      if (this.broker.subscribe(session, filter, checkFilter)) continue;
      session.setSubscription(filter, options);
    }
    session.restore(loaded);
    if (persist) session.persistAll();
    // A session whose client was connected at the crash (or at the handover) expires as if it
    // had just left; the time is stored, so that a second crash does not restart the count.
    let expiresAt = loaded.session.expiresAt;
    if (expiresAt === undefined && expiryInterval !== NEVER_EXPIRES) {
      expiresAt = nowMs + expiryInterval * 1000;
      session.save(expiresAt);
    }
    if (expiresAt !== undefined) this.startExpiry(session, expiresAt - nowMs);
    return session;
  }

  /**
   * Another node takes `clientId` over (docs/CLUSTER.md, "MQTT across nodes"): its connection
   * here, if any, gets DISCONNECT 0x8E, as for a takeover on this node; 'owned' when the
   * session belongs to another user (nothing is touched). A session that ends with the
   * takeover (clean start, or expiry 0) ends here, its will handled as at any end: 'none'.
   * Otherwise the session leaves this node (its delayed will cancelled: the client is back)
   * and is returned, for the new node to install.
   */
  releaseSession(
    clientId: string,
    cleanStart: boolean,
    user: string | undefined,
  ): LoadedSession | 'none' | 'owned' {
    const session = this.sessions.get(clientId);
    if (session === undefined) return 'none';
    if (session.user !== undefined && session.user !== user) return 'owned';
    const sessionEnds = cleanStart || session.expiryInterval === 0;
    if (session.link) this.takeOverLink(session, sessionEnds);
    if (sessionEnds) {
      this.endSession(session);
      return 'none';
    }
    this.cancelWill(clientId);
    const loaded = session.snapshot();
    this.forgetSession(session);
    return loaded;
  }

  /** A session another node handed over (releaseSession there), checked as client input would be. */
  adoptSession(loaded: LoadedSession): void {
    const existing = this.sessions.get(loaded.session.clientId);
    // A connection of this node got the client id meanwhile: it is the newer one.
    if (existing !== undefined) return;
    this.installSession(
      loaded,
      Date.now(),
      (filter) => this.checkFilter(filter),
      loaded.session.expiryInterval > 0,
    );
  }

  /**
   * The user whose session holds `clientId` (connected, or persistent and waiting), when it
   * belongs to an authenticated user: another user may not take that client id over.
   */
  sessionOwner(clientId: string): string | undefined {
    return this.sessions.get(clientId)?.user;
  }

  /**
   * Runs a session timer's work (its link may be gone): an exception is reported as a fault of
   * that client and closes its link, if it has one; the process and other sessions carry on.
   */
  private contained(clientId: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.faults.report('timer', `MQTT client ${clientId}`, err);
      (this.sessions.get(clientId)?.link as MqttLink | undefined)?.connection.abort();
    }
  }

  private newSession(clientId: string): MqttSession {
    const session = new MqttSession(
      `mqtt-${this.idPrefix}${(this.nextId++).toString(36)}`,
      clientId,
      this.sessionPolicy,
    );
    this.sessions.set(clientId, session);
    return session;
  }

  private startExpiry(session: MqttSession, inMs: number): void {
    if (session.expiryInterval === NEVER_EXPIRES || this.stopped) return;
    // Up to 2^32 - 1 seconds: longer than one setTimeout can wait.
    session.expiryTimer = new LongTimer(
      () => this.contained(session.clientId, () => this.endSession(session)),
      inMs,
    );
  }

  /** Finds, resumes, takes over or creates the session for a CONNECT. */
  attachSession(
    clientId: string,
    cleanStart: boolean,
    expiryInterval: number,
    user: string | undefined,
  ): { session: MqttSession; present: boolean } {
    let session = this.sessions.get(clientId);
    // The old session ends with clean start, or when it was to end with its connection.
    const sessionEnds = session !== undefined && (cleanStart || session.expiryInterval === 0);
    if (session?.link) this.takeOverLink(session, sessionEnds);
    if (session && sessionEnds) {
      // A will delayed past the old connection goes out now that its session ends (§3.1.3.2.2).
      this.endSession(session);
      session = undefined;
    }
    // A client back before its will delay ran out: that will is never sent.
    this.cancelWill(clientId);
    const present = session !== undefined;
    session ??= this.newSession(clientId);
    session.user = user;
    session.expiryTimer?.clear();
    session.expiryTimer = undefined;
    session.expiryInterval = expiryInterval;
    if (expiryInterval > 0) {
      session.journal ??= new SessionJournal(this.store, clientId);
      session.save();
    } else if (session.journal) {
      // No longer persistent: it ends with this connection, and nothing of it is kept.
      session.journal.deleteSession();
      session.journal = undefined;
    }
    return { session, present };
  }

  /** The session's connection is closed for a newer one (MQTT 5 §3.1.4). */
  private takeOverLink(session: MqttSession, sessionEnds: boolean): void {
    const old = session.link as MqttLink;
    // The old connection's will goes out only if the session ends (MqttLink.takenOver).
    old.takenOver(sessionEnds);
    session.link = undefined;
    this.links.delete(old);
    old.session = undefined;
  }

  onLinkClosed(link: MqttLink, will: Will | undefined): void {
    this.links.delete(link);
    const session = link.session;
    if (!session || session.link !== link) {
      if (will) this.publishWill(will);
      return;
    }
    session.link = undefined;
    const expiry = session.expiryInterval;
    if (will) this.scheduleWill(session.clientId, will, expiry);
    if (expiry === 0) return this.endSession(session);
    if (expiry === NEVER_EXPIRES) return session.save();
    session.save(Date.now() + expiry * 1000);
    this.startExpiry(session, expiry * 1000);
  }

  /** Will delay (MQTT 5 §3.1.3.2.2): sent after the delay or when the session ends, whichever is first. */
  private scheduleWill(clientId: string, will: Will, sessionExpiry: number): void {
    const delay = Math.min(will.delaySeconds, sessionExpiry);
    if (delay <= 0) return this.publishWill(will);
    const publishAt = Date.now() + delay * 1000;
    this.store.putWill({
      clientId,
      message: storedMessageOf(will.publication),
      publishAt,
      ...(will.expirySeconds !== undefined ? { expirySeconds: will.expirySeconds } : {}),
    });
    this.delayWill(clientId, will, delay * 1000);
  }

  private delayWill(clientId: string, will: Will, delayMs: number): void {
    // After stop() the stored will waits for the next start.
    if (this.stopped) return;
    const timer = new LongTimer(
      () =>
        this.contained(clientId, () => {
          this.pendingWills.delete(clientId);
          this.store.deleteWill(clientId);
          this.publishWill(will);
        }),
      delayMs,
    );
    this.pendingWills.set(clientId, { timer, will });
  }

  /** Removes a delayed will; returns it so that a caller may still send it. */
  private cancelWill(clientId: string): Will | undefined {
    const pending = this.pendingWills.get(clientId);
    if (!pending) return undefined;
    pending.timer.clear();
    this.pendingWills.delete(clientId);
    this.store.deleteWill(clientId);
    return pending.will;
  }

  private publishWill(will: Will): void {
    this.stats.willsPublished++;
    let publication = will.publication;
    if (will.expirySeconds !== undefined) {
      const { channel, payload, qos, retain, properties } = publication;
      const expiresAt = Date.now() + will.expirySeconds * 1000;
      publication = new Publication({ channel, payload, qos, retain, properties, expiresAt });
    }
    this.route(publication);
  }

  endSession(session: MqttSession): void {
    // The session ended before the will delay ran out: the will goes now.
    const will = this.cancelWill(session.clientId);
    if (will) this.publishWill(will);
    this.forgetSession(session);
  }

  /** Drops the session and everything it held, here and in the store (its will is the caller's). */
  private forgetSession(session: MqttSession): void {
    session.expiryTimer?.clear();
    if (this.sessions.get(session.clientId) === session) this.sessions.delete(session.clientId);
    this.broker.disconnect(session);
    session.journal?.deleteSession();
    session.journal = undefined;
    session.clear();
  }
}
