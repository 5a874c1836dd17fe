import { msgpack } from '@pulse/protocol/msgpack';

/** Length-prefixed MessagePack framing on plain Uint8Arrays, so the client runs in browsers. */
export function encodeFrame(frame: object): Uint8Array {
  const body = msgpack.pack(frame) as Uint8Array;
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  return out;
}

export class FrameSplitter {
  private pending: Uint8Array | undefined;

  constructor(private readonly maxFrameSize = 16 * 1024 * 1024) {}

  /** Calls `onFrame` with each decoded frame; throws on a frame over the cap. */
  push(chunk: Uint8Array, onFrame: (frame: Record<string, unknown>) => void): void {
    let data = chunk;
    if (this.pending) {
      data = new Uint8Array(this.pending.length + chunk.length);
      data.set(this.pending);
      data.set(chunk, this.pending.length);
      this.pending = undefined;
    }
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    let pos = 0;
    while (data.length - pos >= 4) {
      const length = view.getUint32(pos);
      if (length > this.maxFrameSize) throw new Error(`frame of ${length} bytes exceeds the cap`);
      if (pos + 4 + length > data.length) break;
      onFrame(msgpack.unpack(data.subarray(pos + 4, pos + 4 + length)) as Record<string, unknown>);
      pos += 4 + length;
    }
    if (pos < data.length) this.pending = data.slice(pos);
  }
}
