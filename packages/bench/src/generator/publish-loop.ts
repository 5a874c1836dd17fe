import type { Connection } from './connection.js';
import type { Dialect } from './dialect.js';
import { MARKER_LENGTH, markedPayload, nowMicros, writeStamp } from './marker.js';
import { maskedHeaderSize, writeMaskedFrame } from './ws-frames.js';

export type Pacing =
  /** Closed loop: keep `window` publications in flight, as seen by the lead subscriber. */
  | { kind: 'window'; window: number }
  /** Open loop: `rate` publications per second whatever happens. */
  | { kind: 'rate'; rate: number };

/** Longest burst an open loop sends at once to catch up after a late timer. */
const MAX_CATCH_UP = 256;
/** A closed loop with no progress for this long assumes its outstanding publications were dropped. */
const STALL_MS = 250;

/**
 * Drives one publisher connection. Every publication is the dialect's message with the send time
 * stamped into the payload's marker; a batch goes out as one socket write.
 */
export class PublishLoop {
  sent = 0;
  /** Times a closed loop gave up waiting for outstanding publications. */
  stalls = 0;
  private readonly template: Buffer;
  private readonly markerAt: number;
  private readonly opcode: number;
  private readonly frameLength: number;
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
    this.opcode = opcode;
    this.template = message;
    this.markerAt = message.indexOf('@@');
    if (this.markerAt < 0 || this.markerAt + MARKER_LENGTH > message.length) {
      throw new Error(`${dialect.name}: the marker is not in the publication bytes`);
    }
    this.frameLength = maskedHeaderSize(message.length) + message.length;
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
        const due = Math.floor(((performance.now() - this.startedAt) * rate) / 1000) - (this.sent - this.sentAtStart);
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
    const out = Buffer.allocUnsafe(n * this.frameLength);
    writeStamp(this.template, this.markerAt, nowMicros());
    let at = 0;
    for (let k = 0; k < n; k++) at = writeMaskedFrame(out, at, this.opcode, this.template);
    this.sent += n;
    this.publisher.write(out);
  }
}
