/** Origins remembered at most (nodes of the cluster, each process start a new origin). */
export const MAX_ORIGINS = 4096;

/**
 * The last sequence number seen from each publishing node. An engine may bring one
 * publication more than once (overlapping interests), always in publish order per node, so a
 * number not above the last one seen from its origin is a duplicate. Bounded: past
 * MAX_ORIGINS the origin heard from least recently is forgotten.
 */
export class OriginSequences {
  private readonly last = new Map<string, number>();

  /** True when `seq` from `origin` is new (and remembers it); false for a duplicate. */
  accept(origin: string, seq: number): boolean {
    const last = this.last.get(origin);
    if (last !== undefined && seq <= last) return false;
    // Delete then set: the Map's order stays "least recently heard first".
    if (last !== undefined) this.last.delete(origin);
    else if (this.last.size >= MAX_ORIGINS) {
      const oldest = this.last.keys().next().value as string;
      this.last.delete(oldest);
    }
    this.last.set(origin, seq);
    return true;
  }

  get size(): number {
    return this.last.size;
  }
}
