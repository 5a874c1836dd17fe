import { randomBytes } from 'node:crypto';
import type { Broker, Publication } from '@pulse/core';
import type { Logger } from '../log.js';
import type { ClusterEngine, EngineState } from './cluster-engine.js';
import { ClusterStartError } from './cluster-error.js';
import { ClusterPresence } from './cluster-presence.js';
import { ClusterShareGroups } from './cluster-share-groups.js';
import { CONTROL_CHANNEL, ControlBus, type OutgoingControl } from './control-bus.js';
import { decodeEnvelope, encodeControl, encodeEnvelope } from './envelope.js';
import { OriginSequences } from './origin-sequences.js';
import type { SharedHistory } from './shared-history.js';

/** What pulse_cluster_* report (metrics/cluster-metrics.ts). */
export interface ClusterStats {
  state: EngineState;
  /** Publications handed to the engine. */
  sent: number;
  /** Publications that could not be handed over (engine not connected, envelope too large). */
  lost: number;
  /** Publications of other nodes delivered here. */
  received: number;
  /** Copies the engine brought twice (overlapping interests), dropped. */
  duplicates: number;
  /** Envelopes that were not well formed, dropped. */
  rejected: number;
  /** Times the engine connection was lost. */
  disconnects: number;
  /** Milliseconds from the publishing node's send to delivery here, of the last publication received. */
  lagMs: number;
}

/** The longest a subscribe's answer waits for the engine to hold its new interest. */
export const SUBSCRIBE_SETTLE_MAX_MS = 2000;

export interface ClusterOptions {
  readonly nodeName: string;
  /** The largest envelope accepted from the engine. */
  readonly maxEnvelopeBytes: number;
  /** Where the engine's URL is named in logs (credentials left out). */
  readonly where: string;
  /** cluster.presence_ttl_ms */
  readonly presenceTtlMs: number;
  /** presence.max_data_bytes: other nodes' members are held to it too. */
  readonly presenceDataBytes: number;
}

/**
 * One node's part in the cluster (docs/CLUSTER.md): it tells the engine the filters this
 * node's subscribers hold (Broker.interest), hands every local publication to the engine after
 * the local fan-out (so local subscribers never wait for a round trip), and delivers the
 * publications of other nodes to the local router, each once, in the order each node sent them.
 */
export class Cluster {
  /** Random per process start: a restarted node is a new origin, whose numbering starts again. */
  readonly nodeId = randomBytes(9).toString('base64url');
  readonly stats: ClusterStats = {
    state: 'connecting',
    sent: 0,
    lost: 0,
    received: 0,
    duplicates: 0,
    rejected: 0,
    disconnects: 0,
    lagMs: 0,
  };
  private seq = 0;
  private readonly origins = new OriginSequences();
  private rejectionsLogged = 0;
  private failuresLogged = 0;
  /** The engine taking the interest added last, until it holds it (interestInForce). */
  private settling: Promise<void> | undefined;
  /** Where cluster features exchange control messages (control-bus.ts). */
  readonly control: ControlBus;
  readonly presence: ClusterPresence;
  readonly shareGroups: ClusterShareGroups;
  /** History and recovery cluster-wide (shared-history.ts), when `[[history]]` rules exist. */
  history: SharedHistory | undefined = undefined;

  constructor(
    private readonly engine: ClusterEngine,
    private readonly broker: Broker,
    private readonly log: Logger,
    private readonly options: ClusterOptions,
  ) {
    this.control = new ControlBus((message, to) => this.sendControl(message, to));
    this.presence = new ClusterPresence(
      broker,
      (message, to) => this.control.send(message, to),
      options.presenceTtlMs,
      options.presenceDataBytes,
    );
    this.control.register(this.presence);
    this.shareGroups = new ClusterShareGroups({
      nodeId: this.nodeId,
      connected: () => this.engine.state === 'connected',
      isPeer: (id) => this.presence.isPeer(id),
      settled: () => this.engine.settled(),
      send: (message) => this.control.send(message),
    });
    this.control.register(this.shareGroups);
  }

  /**
   * Subscribes to what the router holds and connects. Not `required`: resolves whether or not
   * the engine answered (the engine keeps trying); `required`: rejects when it did not.
   */
  async start(required: boolean): Promise<void> {
    this.broker.cluster = {
      added: (filter) => this.interestAdded(filter),
      removed: (filter) => this.engine.removeInterest(filter),
      presenceChanged: (event, dataBytes) => this.presence.localChanged(event, dataBytes),
      groupAdded: (id) => this.shareGroups.groupAdded(id),
      groupRemoved: (id) => this.shareGroups.groupRemoved(id),
      deliversGroup: (message, id) => this.shareGroups.deliversGroup(message, id),
    };
    this.engine.addInterest(CONTROL_CHANNEL);
    this.presence.start();
    this.shareGroups.start();
    for (const id of this.broker.sharedGroupIds()) this.shareGroups.groupAdded(id);
    for (const filter of this.broker.filters()) this.engine.addInterest(filter);
    const listener = {
      message: (envelope: Uint8Array) => this.receive(envelope),
      state: (state: EngineState, reason: string | undefined) => this.stateChanged(state, reason),
    };
    const history = this.history?.start();
    try {
      await this.engine.start(listener, required);
    } catch (err) {
      this.broker.cluster = undefined;
      this.control.close();
      await this.history?.close();
      throw new ClusterStartError(`cluster.required: ${(err as Error).message}`);
    }
    await history;
  }

  /** Resolves once the engine holds this node's interest as it is now (ClusterEngine.settled). */
  settled(): Promise<void> {
    return this.engine.settled();
  }

  /**
   * Undefined when the engine holds every interest of this node, else a promise that resolves
   * once it does, within SUBSCRIBE_SETTLE_MAX_MS; undefined too while the engine is not
   * connected (nothing to wait for). A subscribe is answered after it (docs/CLUSTER.md).
   */
  interestInForce(): Promise<void> | undefined {
    return this.engine.state === 'connected' ? this.settling : undefined;
  }

  private interestAdded(filter: string): void {
    this.engine.addInterest(filter);
    if (this.engine.state !== 'connected') return;
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, SUBSCRIBE_SETTLE_MAX_MS);
      timer.unref();
    });
    const settling: Promise<void> = Promise.race([this.engine.settled().catch(() => {}), bound]).then(() => {
      clearTimeout(timer);
      if (this.settling === settling) this.settling = undefined;
    });
    this.settling = settling;
  }

  /** Hands a publication made on this node to the other nodes. */
  forward(publication: Publication): void {
    if (this.engine.state !== 'connected') {
      this.stats.lost++;
      return;
    }
    const groups = this.shareGroups.assignmentOf(publication);
    const envelope = encodeEnvelope(this.nodeId, ++this.seq, publication, groups);
    if (this.engine.publish(publication.channel, envelope)) this.stats.sent++;
    else this.stats.lost++;
  }

  async close(): Promise<void> {
    this.broker.cluster = undefined;
    this.control.close();
    await Promise.all([this.engine.close(), this.history?.close()]);
  }

  private sendControl(message: OutgoingControl, to: string | undefined): void {
    if (this.engine.state === 'connected')
      this.engine.publish(CONTROL_CHANNEL, encodeControl(this.nodeId, ++this.seq, message, to));
  }

  private receive(bytes: Uint8Array): void {
    try {
      // A copy: the engine's bytes may be a view of a larger read buffer, and the payload stays
      // referenced by queues and history.
      const envelope = decodeEnvelope(Buffer.from(bytes), this.options.maxEnvelopeBytes);
      if (typeof envelope === 'string') return this.reject(envelope);
      if (envelope.origin === this.nodeId) return;
      if (envelope.kind === 'control') {
        if (envelope.to !== undefined && envelope.to !== this.nodeId) return;
        if (envelope.seq !== undefined && !this.origins.accept(envelope.origin, envelope.seq)) {
          this.stats.duplicates++;
          return;
        }
        const problem = this.control.receive(envelope.origin, envelope.message, Date.now());
        return problem === undefined ? undefined : this.reject(problem);
      }
      if (this.broker.checkNameLimits(envelope.publication.channel) !== undefined) {
        return this.reject('a channel past limits.max_channel_length or limits.max_topic_levels');
      }
      const history = this.history;
      if (history !== undefined && envelope.publication.epoch !== undefined) {
        // Ordered and deduplicated by offset, not by origin (history-sequencer.ts).
        this.stats.received++;
        this.stats.lagMs = Math.max(0, Date.now() - envelope.sentAt);
        if (envelope.groups !== undefined) this.shareGroups.noteRemote(envelope.publication, envelope.groups);
        return history.receive(envelope.publication);
      }
      if (!this.origins.accept(envelope.origin, envelope.seq)) {
        this.stats.duplicates++;
        return;
      }
      this.stats.received++;
      this.stats.lagMs = Math.max(0, Date.now() - envelope.sentAt);
      this.shareGroups.remoteDelivery(envelope.publication, envelope.groups);
      try {
        this.broker.deliverRemote(envelope.publication);
      } finally {
        this.shareGroups.remoteDone();
      }
    } catch (err) {
      // Rare, but as for rejections: one line per hundred, whatever the engine brings.
      if (this.failuresLogged++ % 100 === 0) {
        this.log.error({ err }, 'cluster: delivering a publication from another node failed');
      }
    }
  }

  private reject(problem: string): void {
    this.stats.rejected++;
    // One line per hundred: a hostile writer on the engine server must not flood the log.
    if (this.rejectionsLogged++ % 100 === 0) {
      this.log.warn({ problem, rejected: this.stats.rejected }, 'cluster: dropped a malformed envelope');
    }
  }

  private stateChanged(state: EngineState, reason: string | undefined): void {
    const was = this.stats.state;
    this.stats.state = state;
    if (state === was) return;
    const { nodeName } = this.options;
    const where = `${this.engine.kind} at ${this.options.where}`;
    if (state === 'connected') {
      this.control.connected();
      this.log.info({ node: nodeName, node_id: this.nodeId }, `cluster: joined through ${where}`);
    } else if (state === 'disconnected') {
      if (was === 'connected') this.stats.disconnects++;
      const since = was === 'connected' ? 'lost' : 'unreachable';
      this.log.warn(
        { node: nodeName, reason },
        `cluster: ${where} ${since}; serving local clients only, retrying`,
      );
    }
  }
}
