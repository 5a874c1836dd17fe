import { isUtf8 } from 'node:buffer';
import { ChunkJoiner, type JoinedParser, feed } from '../chunk-joiner.js';
import { HeldBytes } from '../held-bytes.js';
import type { InputBudget } from '../input-budget.js';
import { CloseCode, Opcode } from './opcodes.js';

export interface FrameParserHandler {
  /** A complete data message. `data` is a view that stays valid after the call. */
  onMessage(data: Buffer, isText: boolean): void;
  onPing(data: Buffer): void;
  onPong(data: Buffer): void;
  onClose(code: number, reason: string): void;
  /** A protocol violation: the connection must be closed with `closeCode`. */
  onProtocolError(closeCode: number, reason: string): void;
}

export interface FrameParserOptions {
  /** Largest data message accepted, after reassembly of fragments. */
  maxMessageSize: number;
  /** Whether incoming frames must be masked (true on a server, RFC 6455 §5.1). */
  requireMask?: boolean;
  /** Charged for unfinished frames and fragmented messages held; past it, close 1013. */
  budget?: InputBudget;
}

/** How many bytes the frame starting `tail` needs, as far as the bytes present tell. */
function bytesNeeded(tail: Buffer): number {
  const second = tail[1];
  if (second === undefined) return 2;
  const masked = (second & 0x80) !== 0 ? 4 : 0;
  const length7 = second & 0x7f;
  if (length7 < 126) return 2 + masked + length7;
  if (length7 === 126) return tail.length < 4 ? 4 : 4 + masked + tail.readUInt16BE(2);
  // 64-bit lengths over 2^32 are refused by the parser before they are ever waited for.
  return tail.length < 10 ? 10 : 10 + masked + tail.readUInt32BE(6);
}

/** Client close codes a peer may send (RFC 6455 §7.4). */
function isValidCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
    (code >= 3000 && code <= 4999)
  );
}

/** The caller checked that the 4 mask bytes and [start, end) are in `data`: hence the `!`s. */
function unmask(data: Buffer, start: number, end: number, maskOffset: number): void {
  const m0 = data[maskOffset]!;
  const m1 = data[maskOffset + 1]!;
  const m2 = data[maskOffset + 2]!;
  const m3 = data[maskOffset + 3]!;
  let i = start;
  const stop4 = end - ((end - start) & 3);
  while (i < stop4) {
    data[i]! ^= m0;
    data[i + 1]! ^= m1;
    data[i + 2]! ^= m2;
    data[i + 3]! ^= m3;
    i += 4;
  }
  if (i < end) data[i++]! ^= m0;
  if (i < end) data[i++]! ^= m1;
  if (i < end) data[i]! ^= m2;
}

/**
 * Incremental parser of RFC 6455 frames as a server receives them: masked, possibly
 * fragmented, interleaved with control frames. Lengths are checked against the limit before
 * any byte of the payload is buffered; only an unfinished frame and the fragments of an
 * unfinished message are copied (each into one compact buffer, charged to the budget).
 * Payloads are unmasked in place and handed out as views of the pushed chunks, so callers
 * must not reuse a chunk's memory after pushing it (Node sockets never do).
 */
export class FrameParser implements JoinedParser {
  /** Created on the first partial frame: most connections never need one. */
  private pending: ChunkJoiner | undefined;
  /** Created on the first fragmented message. */
  private fragments: HeldBytes | undefined;
  /** Inside a fragmented message (its first frame had FIN = 0). */
  private fragmenting = false;
  private fragmentIsText = false;
  stopped = false;
  private readonly maxMessageSize: number;
  private readonly requireMask: boolean;
  private readonly budget: InputBudget | undefined;

  constructor(
    private readonly handler: FrameParserHandler,
    options: FrameParserOptions,
  ) {
    this.maxMessageSize = options.maxMessageSize;
    this.requireMask = options.requireMask ?? true;
    this.budget = options.budget;
  }

  get bufferedBytes(): number {
    return (this.pending?.bufferedBytes ?? 0) + this.fragmentBytes;
  }

  private get fragmentBytes(): number {
    return this.fragments?.length ?? 0;
  }

  private holdTail(tail: Buffer, needed: (tail: Buffer) => number): void {
    this.pending ??= new ChunkJoiner(this.budget);
    if (!this.pending.hold(tail, needed)) this.inputOverBudget();
  }

  inputOverBudget(): void {
    this.fail(CloseCode.TryAgainLater, 'server input buffers are full');
  }

  stop(): void {
    this.stopped = true;
    this.pending?.clear();
    this.fragments?.clear();
    this.fragmenting = false;
  }

  push(chunk: Buffer): void {
    if (this.stopped) return;
    feed(this.pending, chunk, this);
  }

  parseFrom(data: Buffer): void {
    let pos = 0;
    const end = data.length;
    while (!this.stopped && end - pos >= 2) {
      // end - pos >= 2, and each longer header below is read after its own length check.
      const b0 = data[pos]!;
      const b1 = data[pos + 1]!;
      const fin = (b0 & 0x80) !== 0;
      const opcode = b0 & 0x0f;
      const masked = (b1 & 0x80) !== 0;
      if ((b0 & 0x70) !== 0) return this.fail(CloseCode.ProtocolError, 'reserved bits set');
      if (masked !== this.requireMask) {
        return this.fail(
          CloseCode.ProtocolError,
          masked ? 'unexpected mask' : 'client frames must be masked',
        );
      }
      let length = b1 & 0x7f;
      let headerSize = 2;
      if (length === 126) {
        if (end - pos < 4) break;
        length = data.readUInt16BE(pos + 2);
        headerSize = 4;
      } else if (length === 127) {
        if (end - pos < 10) break;
        const high = data.readUInt32BE(pos + 2);
        if (high !== 0) return this.fail(CloseCode.MessageTooBig, 'frame too large');
        length = data.readUInt32BE(pos + 6);
        headerSize = 10;
      }
      const isControl = opcode >= 0x8;
      if (isControl) {
        if (!fin) return this.fail(CloseCode.ProtocolError, 'fragmented control frame');
        if (length > 125) return this.fail(CloseCode.ProtocolError, 'control frame too long');
      } else if (length + this.fragmentBytes > this.maxMessageSize) {
        return this.fail(CloseCode.MessageTooBig, `message exceeds ${this.maxMessageSize} bytes`);
      }
      const maskOffset = pos + headerSize;
      const payloadStart = maskOffset + (masked ? 4 : 0);
      const payloadEnd = payloadStart + length;
      if (payloadEnd > end) break;
      if (masked) unmask(data, payloadStart, payloadEnd, maskOffset);
      const payload = data.subarray(payloadStart, payloadEnd);
      pos = payloadEnd;
      if (isControl) this.control(opcode, payload);
      else this.data(opcode, fin, payload);
    }
    if (!this.stopped && pos < end) this.holdTail(data.subarray(pos), bytesNeeded);
  }

  private data(opcode: number, fin: boolean, payload: Buffer): void {
    if (opcode === Opcode.Continuation) {
      if (!this.fragmenting)
        return this.fail(CloseCode.ProtocolError, 'continuation without a started message');
      if (!this.holdFragment(payload) || !fin) return;
      this.fragmenting = false;
      return this.deliver((this.fragments as HeldBytes).takeAll(), this.fragmentIsText);
    }
    if (opcode !== Opcode.Text && opcode !== Opcode.Binary) {
      return this.fail(CloseCode.ProtocolError, `unknown opcode ${opcode}`);
    }
    if (this.fragmenting) return this.fail(CloseCode.ProtocolError, 'new message before the last one ended');
    if (fin) return this.deliver(payload, opcode === Opcode.Text);
    this.fragmenting = true;
    this.fragmentIsText = opcode === Opcode.Text;
    this.holdFragment(payload);
  }

  /** Copies a fragment out of the chunk it came in: a view would keep the whole chunk alive. */
  private holdFragment(payload: Buffer): boolean {
    this.fragments ??= new HeldBytes(this.budget);
    if (this.fragments.append(payload, this.maxMessageSize)) return true;
    this.inputOverBudget();
    return false;
  }

  private deliver(message: Buffer, isText: boolean): void {
    if (isText && !isUtf8(message))
      return this.fail(CloseCode.InvalidPayload, 'text message is not valid UTF-8');
    this.handler.onMessage(message, isText);
  }

  private control(opcode: number, payload: Buffer): void {
    switch (opcode) {
      case Opcode.Ping:
        return this.handler.onPing(payload);
      case Opcode.Pong:
        return this.handler.onPong(payload);
      case Opcode.Close: {
        if (payload.length === 0) {
          this.stop();
          return this.handler.onClose(1005, '');
        }
        if (payload.length === 1)
          return this.fail(CloseCode.ProtocolError, 'close frame with a 1-byte payload');
        const code = payload.readUInt16BE(0);
        if (!isValidCloseCode(code)) return this.fail(CloseCode.ProtocolError, `invalid close code ${code}`);
        const reason = payload.subarray(2);
        if (!isUtf8(reason)) return this.fail(CloseCode.InvalidPayload, 'close reason is not valid UTF-8');
        this.stop();
        return this.handler.onClose(code, reason.toString('utf8'));
      }
      default:
        return this.fail(CloseCode.ProtocolError, `unknown opcode ${opcode}`);
    }
  }

  private fail(closeCode: number, reason: string): void {
    this.stop();
    this.handler.onProtocolError(closeCode, reason);
  }
}
