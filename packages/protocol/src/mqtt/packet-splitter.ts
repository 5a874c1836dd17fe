import { ChunkJoiner, type JoinedParser, feed } from '../chunk-joiner.js';
import type { InputBudget } from '../input-budget.js';

export interface PacketSplitterHandler {
  /** One complete control packet (fixed header included); may be a view of input data. */
  onPacket(packet: Buffer): void;
  /** A packet longer than the limit was announced; nothing more is read. */
  onPacketTooLarge(size: number): void;
  /** The Remaining Length field is longer than 4 bytes (MQTT §1.5.5); nothing more is read. */
  onMalformedLength(): void;
  /** Only with a budget: it refused room for an unfinished packet; nothing more is read. */
  onInputOverBudget?(): void;
}

/** Bytes needed by the packet at the start of `tail`, as far as the present bytes tell. */
function packetBytesNeeded(tail: Buffer): number {
  let value = 0;
  for (let i = 1; i < 5; i++) {
    const byte = tail[i];
    if (byte === undefined) return i + 1;
    value += (byte & 0x7f) * 128 ** (i - 1);
    if ((byte & 0x80) === 0) return 1 + i + value;
  }
  return Number.MAX_SAFE_INTEGER;
}

/**
 * Splits an MQTT byte stream into whole control packets, checking each packet's announced
 * size against `maxPacketSize` before buffering it, so that a client can never make the
 * server hold more than one packet of the allowed size (in one compact buffer, charged to
 * `budget` when given).
 */
export class PacketSplitter implements JoinedParser {
  private pending: ChunkJoiner | undefined;
  stopped = false;

  constructor(
    private readonly handler: PacketSplitterHandler,
    private readonly maxPacketSize: number,
    private readonly budget?: InputBudget,
  ) {}

  stop(): void {
    this.stopped = true;
    this.pending?.clear();
  }

  push(chunk: Buffer): void {
    if (this.stopped) return;
    feed(this.pending, chunk, this);
  }

  inputOverBudget(): void {
    this.stop();
    this.handler.onInputOverBudget?.();
  }

  parseFrom(data: Buffer): void {
    let pos = 0;
    const end = data.length;
    while (!this.stopped && pos < end) {
      let remaining = 0;
      let multiplier = 1;
      let i = pos + 1;
      let complete = false;
      for (; i < end && i < pos + 5; i++) {
        const byte = data[i] as number; // i < end
        remaining += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        if ((byte & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete) {
        if (i >= pos + 5) {
          this.stop();
          return this.handler.onMalformedLength();
        }
        break;
      }
      const size = i + 1 - pos + remaining;
      if (size > this.maxPacketSize) {
        this.stop();
        return this.handler.onPacketTooLarge(size);
      }
      if (pos + size > end) break;
      this.handler.onPacket(data.subarray(pos, pos + size));
      pos += size;
    }
    if (!this.stopped && pos < end) {
      this.pending ??= new ChunkJoiner(this.budget);
      if (!this.pending.hold(data.subarray(pos), packetBytesNeeded)) this.inputOverBudget();
    }
  }
}
