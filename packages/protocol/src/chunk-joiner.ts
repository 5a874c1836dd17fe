/**
 * Holds the unfinished tail of a byte stream and joins it with later chunks only once the
 * unit it belongs to (a frame) can be complete. Joining on every chunk would copy a large
 * frame over and over, quadratic in its size.
 */
export class ChunkJoiner {
  private chunks: Buffer[] | undefined;
  private bytes = 0;
  private needed = 0;

  get bufferedBytes(): number {
    return this.bytes;
  }

  /** The data to parse now, or undefined while the held frame still lacks bytes. */
  take(chunk: Buffer): Buffer | undefined {
    if (!this.chunks) return chunk;
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    if (this.bytes < this.needed) return undefined;
    const data = Buffer.concat(this.chunks, this.bytes);
    this.clear();
    return data;
  }

  /** Keeps a copy of an unparsed tail; `needed(tail)` says how many bytes its frame needs in all. */
  hold(tail: Buffer, needed: (tail: Buffer) => number): void {
    const copy = Buffer.from(tail);
    this.chunks = [copy];
    this.bytes = copy.length;
    this.needed = needed(copy);
  }

  clear(): void {
    this.chunks = undefined;
    this.bytes = 0;
  }
}
