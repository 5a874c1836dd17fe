/**
 * What nodes tell each other besides publications (docs/CLUSTER.md): small maps with a short
 * type `y`, on the one control channel every node listens to. Each cluster feature (presence,
 * and whatever else needs a word with the other nodes) owns some types and checks its own
 * messages, so that features are added beside this file without touching the others. A
 * message may name one node (`to`): the others drop it unread.
 */

/** No client channel can be named this: every protocol refuses U+0000 in a name. */
export const CONTROL_CHANNEL = '\u0000pulse-cluster';

/** A control message as it came from the engine: a map with a string `y`, nothing else checked. */
export type UncheckedControl = Readonly<Record<string, unknown>> & { readonly y: string };

/** A control message to send: a map with its type, every value plain MessagePack. */
export type OutgoingControl = { readonly y: string } & Readonly<Record<string, unknown>>;

export interface ControlFeature {
  /** The types `y` it owns; two features never own the same one. */
  readonly types: readonly string[];
  /**
   * A message of its types from another node. The feature checks every field (the engine
   * server is shared: the bytes are as hostile as a client's); it returns why it refused
   * the message, or undefined. Never throws: the bus counts a throw as a refusal.
   */
  receive(origin: string, message: UncheckedControl, now: number): string | undefined;
  /** The engine (re)connected: other nodes may have forgotten what this feature told them. */
  connected?(): void;
  /** The node stops (before the engine closes: a last message still goes out). */
  close?(): void;
}

type Send = (message: OutgoingControl, to: string | undefined) => void;

export class ControlBus {
  private readonly owners = new Map<string, ControlFeature>();
  private readonly features: ControlFeature[] = [];

  constructor(private readonly sender: Send) {}

  register(feature: ControlFeature): void {
    for (const type of feature.types) {
      if (this.owners.has(type)) throw new Error(`control type ${type} has two owners`);
      this.owners.set(type, feature);
    }
    this.features.push(feature);
  }

  /** To every other node, or only to node `to` (its id). Dropped while the engine is down. */
  send(message: OutgoingControl, to?: string): void {
    this.sender(message, to);
  }

  /** A message from `origin`; why it was refused, or undefined. */
  receive(origin: string, message: UncheckedControl, now: number): string | undefined {
    const owner = this.owners.get(message.y);
    if (owner === undefined) return `unknown control message ${JSON.stringify(message.y).slice(0, 40)}`;
    try {
      return owner.receive(origin, message, now);
    } catch (err) {
      return `control message ${message.y}: ${(err as Error).message}`;
    }
  }

  connected(): void {
    for (const feature of this.features) feature.connected?.();
  }

  close(): void {
    for (const feature of this.features) feature.close?.();
  }
}
