/**
 * The bus between Pulse nodes (docs/CLUSTER.md): a real Redis or NATS server, reached through
 * its driver. Implementations live beside this file (`redis-engine.ts`, `nats-engine.ts`) and
 * pass one contract suite (test/cluster-engine-contract.ts). The engine moves opaque bytes by
 * channel; what the bytes mean (the envelope), ordering checks and duplicate removal belong to
 * the cluster layer above it, which is the same for every engine.
 */

/**
 * Where an engine's connection stands: `connecting` until the first connection, then
 * `connected` or `disconnected` (retrying) in turn; `closed` only after `close()`.
 */
export type EngineState = 'connecting' | 'connected' | 'disconnected' | 'closed';

export interface EngineOptions {
  /** Server URLs (`redis://…`, `nats://…`), tried in order; several for a cluster of servers. */
  readonly urls: readonly string[];
  /** Namespaces every key and subject, so that several Pulse clusters can share one server. */
  readonly prefix: string;
  /** This node's name, for the engine's client name (CLIENT LIST, NATS connz). */
  readonly nodeName: string;
}

export interface EngineListener {
  /**
   * Bytes some node published on a channel this node has interest in. Called at least once per
   * publication and matching interest (overlapping interests may bring one publication twice:
   * the layer above removes duplicates), in publish order per publishing node. Never throws to
   * the engine: the layer catches its own errors.
   */
  message(envelope: Uint8Array): void;
  /** The connection changed state; `reason` says why in one line (the driver's error). */
  state(state: EngineState, reason?: string): void;
}

export interface ClusterEngine {
  readonly kind: 'redis' | 'nats';
  readonly state: EngineState;
  /**
   * Connects, and keeps reconnecting for as long as the engine is open (state events tell
   * each change). Resolves once connected; with `required` false it also resolves, in state
   * `disconnected`, when the first attempt fails; with `required` true it rejects then, with a
   * one-line reason, and the engine is closed.
   */
  start(listener: EngineListener, required: boolean): Promise<void>;
  /**
   * This node now wants the publications of `filter`: a channel or an MQTT-style filter (`+`,
   * `#`; never `$share/…`, the layer passes the group's filter). Called once per filter until
   * `removeInterest`; interest outlives disconnections: the engine re-establishes all of it on
   * every reconnect before it reports `connected`. The engine may bring publications of other
   * channels too (a glob is wider than `+`): the node's router filters them.
   */
  addInterest(filter: string): void;
  removeInterest(filter: string): void;
  /**
   * Resolves once the engine server holds every interest added before the call (one round
   * trip), or at once when not connected: after it, a publication any node sends on those
   * filters reaches this node.
   */
  settled(): Promise<void>;
  /**
   * Sends `envelope` to every node with interest in `channel` (this node included, perhaps).
   * Fire and forget, in call order. False when it could not be sent (not connected): the
   * layer counts it as lost; the engine never buffers for later.
   */
  publish(channel: string, envelope: Uint8Array): boolean;
  /** Disconnects for good; state `closed`. */
  close(): Promise<void>;
}
