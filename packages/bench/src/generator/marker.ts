/**
 * The latency marker a publisher writes into every payload: ASCII `@@` followed by the send time as
 * 16 decimal digits of microseconds on the monotonic clock. `process.hrtime()` reads CLOCK_MONOTONIC,
 * which every process on the machine shares, so a subscriber in another process can subtract.
 */

export const MARKER_BYTE = 0x40; // '@'
export const STAMP_DIGITS = 16;
/** `@@` + digits. */
export const MARKER_LENGTH = 2 + STAMP_DIGITS;

export function nowMicros(): number {
  const t = process.hrtime();
  return t[0] * 1e6 + Math.floor(t[1] / 1000);
}

/** A printable ASCII payload of `size` bytes that starts with a zeroed marker. */
export function markedPayload(size: number): Buffer {
  if (size < MARKER_LENGTH) throw new Error(`payload must hold the ${MARKER_LENGTH}-byte marker`);
  const out = Buffer.alloc(size, 'x');
  out.write('@@', 0, 'latin1');
  out.fill('0', 2, MARKER_LENGTH);
  return out;
}

/** Writes the digits of `micros` after the `@@` that starts at `at`. */
export function writeStamp(buf: Buffer, at: number, micros: number): void {
  let v = micros;
  for (let i = at + MARKER_LENGTH - 1; i >= at + 2; i--) {
    buf[i] = 0x30 + (v % 10);
    v = Math.floor(v / 10);
  }
}

/** The send time of the first marker in `buf[start, end)`, or -1 when there is none. */
export function findStamp(buf: Buffer, start: number, end: number): number {
  for (let i = start; i + MARKER_LENGTH <= end; i++) {
    if (buf[i] !== MARKER_BYTE || buf[i + 1] !== MARKER_BYTE) continue;
    let v = 0;
    let j = i + 2;
    for (; j < i + MARKER_LENGTH; j++) {
      const d = buf[j]! - 0x30; // the caller's loop keeps i + MARKER_LENGTH within buf
      if (d < 0 || d > 9) break;
      v = v * 10 + d;
    }
    if (j === i + MARKER_LENGTH) return v;
  }
  return -1;
}

/** Latency samples of one process, in microseconds; keeps the first `capacity`. */
export class LatencySamples {
  private values: Float64Array;
  length = 0;

  constructor(capacity = 200_000) {
    this.values = new Float64Array(capacity);
  }

  add(micros: number): void {
    if (this.length < this.values.length) this.values[this.length++] = micros;
  }

  clear(): void {
    this.length = 0;
  }

  toArray(): number[] {
    return Array.from(this.values.subarray(0, this.length));
  }
}
