/** Origins remembered at most (nodes of the cluster, each process start a new origin). */
export const MAX_ORIGINS = 4096;
/** Sequence numbers remembered per origin: the last ones accepted. */
export const RECENT_SEQUENCES = 8;

/**
 * The sequence numbers last seen from each publishing node. An engine may bring one message
 * more than once (overlapping interests), and then brings the copies one after the other (one
 * PUBLISH is written to all its matching subscriptions at once), so a number among the last few
 * accepted from its origin is a duplicate. Not "any number not above the last one": the engine
 * server is shared, and one envelope forged in a real node's name with a huge number would then
 * have every later publication of that node dropped (docs/CLUSTER.md, "Security"). Bounded: past
 * MAX_ORIGINS the origin heard from least recently is forgotten.
 */
export class OriginSequences {
  private readonly recent = new Map<string, number[]>();

  /** True when `seq` from `origin` is new (and remembers it); false for a duplicate. */
  accept(origin: string, seq: number): boolean {
    let seen = this.recent.get(origin);
    if (seen !== undefined) {
      if (seen.includes(seq)) return false;
      // Delete then set: the Map's order stays "least recently heard first".
      this.recent.delete(origin);
      if (seen.length >= RECENT_SEQUENCES) seen.shift();
      seen.push(seq);
    } else {
      if (this.recent.size >= MAX_ORIGINS) {
        const oldest = this.recent.keys().next().value as string;
        this.recent.delete(oldest);
      }
      seen = [seq];
    }
    this.recent.set(origin, seen);
    return true;
  }

  get size(): number {
    return this.recent.size;
  }
}
