import { Buffer } from 'node:buffer';

/** Names this long or shorter are remembered by RecentName. */
const RECENT_NAME_BYTES = 128;

/**
 * The last channel or topic name read on one connection, with its bytes: a client that
 * publishes to the same name again (a device, a sensor) gets the same string without decoding
 * it, and the code after can tell it has checked that string already (MqttLink, NativeSession).
 * One buffer of 128 bytes, made at the first name and reused: a client changing name every
 * message costs a copy, not an allocation.
 */
export class RecentName {
  private bytes: Buffer | undefined;
  private length = -1;
  private text = '';

  /** The string last remembered, if `bytes[start, end)` are its bytes. */
  lookup(bytes: Uint8Array, start: number, end: number): string | undefined {
    const length = end - start;
    const known = this.bytes;
    if (length !== this.length || known === undefined) return undefined;
    for (let i = 0; i < length; i++) if (known[i] !== bytes[start + i]) return undefined;
    return this.text;
  }

  /** Remembers `text` as what `bytes[start, end)` decode to (when short enough). */
  remember(bytes: Uint8Array, start: number, end: number, text: string): void {
    const length = end - start;
    if (length > RECENT_NAME_BYTES) return;
    this.bytes ??= Buffer.allocUnsafeSlow(RECENT_NAME_BYTES);
    this.bytes.set(bytes.subarray(start, end));
    this.length = length;
    this.text = text;
  }
}
