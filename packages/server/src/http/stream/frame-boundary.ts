/**
 * Follows the length prefixes of a native byte stream without holding any of it: tells
 * whether the bytes passed so far end on a frame boundary. A POST body that ends (or is cut)
 * inside a frame leaves the session's frame reader holding half a frame, which no later POST
 * may complete (docs/PROTOCOL.md, "HTTP streaming transport").
 */
export class FrameBoundary {
  /** Prefix bytes of the next frame seen so far (0 to 3). */
  private prefixBytes = 0;
  private prefix = 0;
  /** Body bytes of the current frame still to come. */
  private remaining = 0;

  get inside(): boolean {
    return this.prefixBytes > 0 || this.remaining > 0;
  }

  pass(chunk: Uint8Array): void {
    let pos = 0;
    const end = chunk.length;
    while (pos < end) {
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, end - pos);
        this.remaining -= n;
        pos += n;
        continue;
      }
      this.prefix = this.prefix * 256 + (chunk[pos] as number);
      pos++;
      if (++this.prefixBytes === 4) {
        this.remaining = this.prefix;
        this.prefix = 0;
        this.prefixBytes = 0;
      }
    }
  }
}
