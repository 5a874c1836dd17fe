import { ChunkJoiner, type JoinedParser, feed } from '../chunk-joiner.js';
import type { InputBudget } from '../input-budget.js';
import { LENGTH_PREFIX_BYTES } from './encode.js';

const frameBytesNeeded = (tail: Buffer): number =>
  tail.length >= LENGTH_PREFIX_BYTES ? LENGTH_PREFIX_BYTES + tail.readUInt32BE(0) : LENGTH_PREFIX_BYTES;

export interface FrameReaderHandler {
  /** One complete frame body (without its length prefix). The buffer may be a view of input data. */
  onFrameBody(body: Buffer): void;
  /** The stream is unusable (a declared length over the cap); no more frames follow. */
  onFrameTooLarge(declaredLength: number): void;
  /** Only with a budget: it refused room for an unfinished frame; no more frames follow. */
  onInputOverBudget?(): void;
}

/**
 * Splits a byte stream into length-prefixed frames: several frames per chunk and frames
 * spanning chunks. Only the unfinished tail of a chunk is ever copied (into one compact
 * buffer, charged to `budget` when given), and a declared length over `maxFrameSize` is
 * refused before anything is allocated for it.
 */
export class FrameReader implements JoinedParser {
  /** Created on the first partial frame: most connections never need one. */
  private pending: ChunkJoiner | undefined;
  private failed = false;

  constructor(
    private readonly handler: FrameReaderHandler,
    private readonly maxFrameSize: number,
    private readonly budget?: InputBudget,
  ) {}

  get stopped(): boolean {
    return this.failed;
  }

  /** Bytes held while waiting for the rest of a frame. */
  get bufferedBytes(): number {
    return this.pending?.bufferedBytes ?? 0;
  }

  push(chunk: Buffer): void {
    if (this.failed) return;
    feed(this.pending, chunk, this);
  }

  parseFrom(data: Buffer): void {
    let pos = 0;
    const end = data.length;
    while (end - pos >= LENGTH_PREFIX_BYTES) {
      const length = data.readUInt32BE(pos);
      if (length > this.maxFrameSize) {
        this.failed = true;
        this.handler.onFrameTooLarge(length);
        return;
      }
      const frameEnd = pos + LENGTH_PREFIX_BYTES + length;
      if (frameEnd > end) break;
      this.handler.onFrameBody(data.subarray(pos + LENGTH_PREFIX_BYTES, frameEnd));
      if (this.failed) return;
      pos = frameEnd;
    }
    if (pos < end) this.holdTail(data.subarray(pos), frameBytesNeeded);
  }

  private holdTail(tail: Buffer, needed: (tail: Buffer) => number): void {
    this.pending ??= new ChunkJoiner(this.budget);
    if (!this.pending.hold(tail, needed)) this.inputOverBudget();
  }

  inputOverBudget(): void {
    this.stop();
    this.handler.onInputOverBudget?.();
  }

  /** Stops reading, e.g. when the connection is closing. */
  stop(): void {
    this.failed = true;
    this.pending?.clear();
  }
}
