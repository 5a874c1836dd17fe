/** A small, seeded xorshift32 generator so that property and fuzz tests are reproducible. */
export class Rng {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }

  /** A uniform unsigned 32-bit integer. */
  u32(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state;
  }

  /** A uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.u32() / 2 ** 32) * n);
  }

  /** A uniform integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  bool(p = 0.5): boolean {
    return this.u32() / 2 ** 32 < p;
  }

  /** One of `items`, which may itself be undefined (a list offering "no header" as a choice). */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list');
    return items[this.int(items.length)] as T; // int(length) < length
  }

  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let i = 0;
    for (; i + 4 <= n; i += 4) out.writeUInt32LE(this.u32(), i);
    for (; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }

  /** A string of valid code points (ASCII, 2-, 3- and 4-byte UTF-8), `length` code points long. */
  string(length: number, asciiOnly = false): string {
    let s = '';
    for (let i = 0; i < length; i++) {
      if (asciiOnly) {
        s += String.fromCharCode(this.range(0x20, 0x7e));
        continue;
      }
      switch (this.int(4)) {
        case 0:
        case 1:
          s += String.fromCharCode(this.range(0x20, 0x7e));
          break;
        case 2:
          s += String.fromCodePoint(this.range(0x80, 0x7ff));
          break;
        default: {
          // Skip the surrogate range: lone surrogates do not survive UTF-8.
          const cp = this.bool() ? this.range(0x800, 0xd7ff) : this.range(0x10000, 0x10ffff);
          s += String.fromCodePoint(cp);
        }
      }
    }
    return s;
  }

  /** Cuts `data` into consecutive chunks at random points; `maxChunk` bounds the chunk size. */
  split(data: Buffer, maxChunk: number): Buffer[] {
    const chunks: Buffer[] = [];
    let pos = 0;
    while (pos < data.length) {
      const size = Math.min(data.length - pos, this.range(1, maxChunk));
      chunks.push(data.subarray(pos, pos + size));
      pos += size;
    }
    return chunks;
  }
}
