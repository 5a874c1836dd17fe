import type { DialectConn, Tally } from './dialect.js';
import { findStamp, type LatencySamples, nowMicros } from './marker.js';
import type { MessageSink } from './ws-frames.js';

/** One delivery per WebSocket message; payload bytes are never looked at. */
export class MessageCounter implements MessageSink {
  readonly wantsBytes = false;

  constructor(
    private readonly conn: DialectConn,
    private readonly tally: Tally,
  ) {}

  bytes(): void {}

  end(): void {
    this.conn.count++;
    this.tally.delivered++;
  }
}

/** One delivery per WebSocket message, and the latency from the marker found in it. */
export class MessageSampler implements MessageSink {
  readonly wantsBytes = true;
  private readonly buf = Buffer.allocUnsafe(4096);
  private length = 0;

  constructor(
    private readonly conn: DialectConn,
    private readonly tally: Tally,
    private readonly samples: LatencySamples,
  ) {}

  bytes(chunk: Buffer, start: number, end: number): void {
    const take = Math.min(end - start, this.buf.length - this.length);
    if (take <= 0) return;
    chunk.copy(this.buf, this.length, start, start + take);
    this.length += take;
  }

  end(): void {
    this.conn.count++;
    this.tally.delivered++;
    const sent = findStamp(this.buf, 0, this.length);
    if (sent >= 0) this.samples.add(nowMicros() - sent);
    this.length = 0;
  }
}

/** Gathers whole messages (setup phase only). */
export class WholeMessages implements MessageSink {
  readonly wantsBytes = true;
  private parts: Buffer[] = [];

  constructor(private readonly onMessage: (message: Buffer) => void) {}

  bytes(chunk: Buffer, start: number, end: number): void {
    this.parts.push(Buffer.from(chunk.subarray(start, end)));
  }

  end(): void {
    const parts = this.parts;
    this.parts = [];
    this.onMessage(parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts));
  }
}
