import { HeldBytes } from './held-bytes.js';
import type { InputBudget } from './input-budget.js';

const EMPTY = Buffer.alloc(0);

/**
 * Holds the unfinished unit (a frame, or the start of one whose header is still incomplete)
 * at the end of a byte stream, and completes it from later chunks. The unit is copied into
 * one compact buffer as it arrives (HeldBytes): memory held stays within twice the bytes
 * received however the client splits them, and a large frame is not copied over and over.
 */
export class ChunkJoiner {
  private readonly held: HeldBytes;
  private needed = 0;
  /** The part of the last chunk given to `take` that followed the unit it returned. */
  rest: Buffer = EMPTY;
  /** Set when the budget refused room for the unit; the joiner then holds nothing. */
  overBudget = false;

  constructor(budget?: InputBudget) {
    this.held = new HeldBytes(budget);
  }

  /** True while part of a unit is held. */
  get holding(): boolean {
    return this.held.length > 0;
  }

  get bufferedBytes(): number {
    return this.held.length;
  }

  /**
   * Keeps a copy of an unparsed tail; `needed(tail)` says how many bytes its unit has in all
   * (as far as the tail tells). False when the budget refused (see overBudget).
   */
  hold(tail: Buffer, needed: (tail: Buffer) => number): boolean {
    this.held.clear();
    this.needed = needed(tail);
    return this.append(tail);
  }

  /**
   * Adds what the held unit still lacks from `chunk`: the unit once complete (the rest of
   * the chunk is then `rest`), else undefined (the whole chunk was taken, or overBudget).
   */
  take(chunk: Buffer): Buffer | undefined {
    const missing = this.needed - this.held.length;
    if (chunk.length < missing) {
      this.append(chunk);
      return undefined;
    }
    if (!this.append(chunk.subarray(0, missing))) return undefined;
    this.rest = chunk.subarray(missing);
    return this.held.takeAll();
  }

  private append(bytes: Buffer): boolean {
    if (this.held.append(bytes, this.needed)) return true;
    this.overBudget = true;
    this.held.clear();
    return false;
  }

  clear(): void {
    this.held.clear();
    this.rest = EMPTY;
  }
}

/** A stream parser whose unfinished units a ChunkJoiner holds. */
export interface JoinedParser {
  /** Parses `data` from a unit boundary: several units, and a tail to hold. */
  parseFrom(data: Buffer): void;
  readonly stopped: boolean;
  /** The input budget refused room for an unfinished unit: nothing more is read. */
  inputOverBudget(): void;
}

/** Gives `chunk` to `parser`, completing the unit `pending` holds (if any) first. */
export function feed(pending: ChunkJoiner | undefined, chunk: Buffer, parser: JoinedParser): void {
  let data = chunk;
  while (pending?.holding) {
    const unit = pending.take(data);
    if (unit === undefined) {
      if (pending.overBudget) parser.inputOverBudget();
      return;
    }
    data = pending.rest;
    pending.rest = EMPTY;
    // A unit that was only a header is held again, with its full size now known.
    parser.parseFrom(unit);
    if (parser.stopped || data.length === 0) return;
  }
  parser.parseFrom(data);
}
