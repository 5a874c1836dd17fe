import type { Connection } from './connection.js';
import type { Dialect } from './dialect.js';
import { MARKER_LENGTH, markedPayload, nowMicros, writeStamp } from './marker.js';
import { maskAt, maskedFrame, maskedHeaderSize } from './ws-frames.js';

export type Pacing =
  /** Closed loop: keep `window` publications in flight, as seen by the lead subscriber. */
  | { kind: 'window'; window: number }
  /** Open loop: `rate` publications per second whatever happens. */
  | { kind: 'rate'; rate: number };

/** Longest burst an open loop sends at once to catch up after a late timer. */
const MAX_CATCH_UP = 256;
/** A closed loop with no progress for this long assumes its outstanding publications were dropped. */
const STALL_MS = 1000;

/**
 * Drives one publisher connection. Every publication is the dialect's message with the send time
 * stamped into the payload's marker; a batch goes out as one socket write. The masked frame is built
 * once: a batch is that frame repeated, with only the 16 masked stamp digits rewritten.
 */
export class PublishLoop {
  sent = 0;
  /** Times a closed loop gave up waiting for outstanding publications. */
  stalls = 0;
  /** The whole masked frame of one publication. */
  private readonly frame: Buffer;
  /** Where the stamp digits sit in `frame`, and their offset in the payload (the mask phase). */
  private readonly digitsAt: number;
  private readonly digitsPayloadOffset: number;
  private readonly digits = Buffer.alloc(MARKER_LENGTH);
  private leadBase = 0;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private startedAt = 0;
  private sentAtStart = 0;
  private lastProgressCount = -1;
  private lastProgressAt = 0;

  constructor(
    private readonly publisher: Connection,
    private readonly lead: Connection | null,
    dialect: Dialect,
    payloadSize: number,
    private readonly pacing: Pacing,
  ) {
    const { opcode, message } = dialect.publication(publisher.channel, markedPayload(payloadSize));
    const markerAt = message.indexOf('@@');
    if (markerAt < 0 || markerAt + MARKER_LENGTH > message.length) {
      throw new Error(`${dialect.name}: the marker is not in the publication bytes`);
    }
    this.frame = maskedFrame(opcode, message);
    this.digitsPayloadOffset = markerAt;
    this.digitsAt = maskedHeaderSize(message.length) + markerAt;
    if (pacing.kind === 'window' && lead === null) throw new Error('a closed loop needs a lead subscriber');
  }

  start(): void {
    this.running = true;
    this.startedAt = performance.now();
    this.sentAtStart = this.sent;
    if (this.pacing.kind === 'window') {
      const lead = this.lead!;
      this.leadBase = lead.count - this.sent;
      lead.afterChunk = () => this.pump();
      this.lastProgressAt = performance.now();
      this.timer = setInterval(() => this.watchdog(), STALL_MS / 2);
      this.pump();
    } else {
      const rate = this.pacing.rate;
      this.timer = setInterval(() => {
        const due =
          Math.floor(((performance.now() - this.startedAt) * rate) / 1000) - (this.sent - this.sentAtStart);
        if (due > 0) this.publish(Math.min(due, MAX_CATCH_UP));
      }, 1);
    }
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.lead && this.pacing.kind === 'window') this.lead.afterChunk = null;
  }

  private pump(): void {
    if (!this.running || this.pacing.kind !== 'window') return;
    const outstanding = this.sent - (this.lead!.count - this.leadBase);
    if (outstanding < this.pacing.window) this.publish(this.pacing.window - outstanding);
  }

  private watchdog(): void {
    const count = this.lead!.count;
    const now = performance.now();
    if (count !== this.lastProgressCount) {
      this.lastProgressCount = count;
      this.lastProgressAt = now;
      return;
    }
    if (now - this.lastProgressAt < STALL_MS) return;
    // Nothing arrived for a while: whatever is outstanding was lost. Start a fresh window.
    this.stalls++;
    this.leadBase = count - this.sent;
    this.lastProgressAt = now;
    this.pump();
  }

  private publish(n: number): void {
    if (!this.publisher.ready) return;
    const size = this.frame.length;
    const out = Buffer.allocUnsafe(n * size);
    out.fill(this.frame);
    this.digits[0] = 0x40;
    this.digits[1] = 0x40;
    writeStamp(this.digits, 0, nowMicros());
    maskAt(this.digits, this.digitsPayloadOffset);
    for (let at = this.digitsAt; at < out.length; at += size) this.digits.copy(out, at);
    this.sent += n;
    this.publisher.write(out);
  }
}
