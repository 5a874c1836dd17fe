import type { InputBudget } from './input-budget.js';

/** Smallest buffer allocated: a tail of a few bytes does not reallocate at every byte. */
const MIN_CAPACITY = 256;

/**
 * Bytes copied into one buffer that grows by doubling (never past a cap the caller gives),
 * counted against an optional server-wide budget. However the input is split, the memory
 * held stays within twice the bytes held (or MIN_CAPACITY) and each byte is copied at most
 * about twice; keeping each socket chunk as its own Buffer would cost hundreds of bytes for
 * every byte a client dribbles.
 */
export class HeldBytes {
  private buffer: Buffer | undefined;
  /** Bytes held. */
  length = 0;

  constructor(private readonly budget: InputBudget | undefined) {}

  /** Bytes allocated (what the budget is charged). */
  get capacity(): number {
    return this.buffer?.length ?? 0;
  }

  /** Appends `bytes`; false when the budget refuses the room for them (nothing is appended). */
  append(bytes: Buffer, cap: number): boolean {
    if (bytes.length === 0) return true;
    const length = this.length + bytes.length;
    if (length > this.capacity && !this.grow(length, cap)) return false;
    bytes.copy(this.buffer as Buffer, this.length);
    this.length = length;
    return true;
  }

  private grow(length: number, cap: number): boolean {
    const capacity = Math.min(Math.max(cap, length), Math.max(MIN_CAPACITY, 2 * this.capacity, length));
    const extra = capacity - this.capacity;
    if (this.budget !== undefined && !this.budget.reserve(extra)) return false;
    // Not from the shared pool: a held slice would keep a whole pool slab alive.
    const buffer = Buffer.allocUnsafeSlow(capacity);
    this.buffer?.copy(buffer, 0, 0, this.length);
    this.buffer = buffer;
    return true;
  }

  /** Hands out what is held (the caller owns it from now on) and holds nothing. */
  takeAll(): Buffer {
    const bytes = this.buffer === undefined ? Buffer.alloc(0) : this.buffer.subarray(0, this.length);
    this.clear();
    return bytes;
  }

  clear(): void {
    if (this.buffer !== undefined) this.budget?.release(this.buffer.length);
    this.buffer = undefined;
    this.length = 0;
  }
}
