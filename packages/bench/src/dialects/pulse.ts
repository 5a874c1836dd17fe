import { decodeFrame, encodeFrame, FrameError, LENGTH_PREFIX_BYTES } from '@pulse/protocol';
import type { Dialect, DialectConn, Tally } from '../generator/dialect.js';
import type { LatencySamples } from '../generator/marker.js';
import { MessageCounter, MessageSampler } from '../generator/message-sinks.js';
import { OPCODE_BINARY } from '../generator/ws-frames.js';

const SUBSCRIBE_ID = 1;

/**
 * Pulse's native protocol over WebSocket: one binary message per frame (u32 length + MessagePack
 * map). Setup decodes the `connected` and `ack` frames; afterwards every binary message is one
 * delivered publication and is only counted.
 */
export const pulseDialect: Dialect = {
  name: 'pulse',
  path: '/ws',

  open(conn: DialectConn): void {
    if (conn.role === 'subscriber') {
      conn.sendMessage(
        OPCODE_BINARY,
        encodeFrame({ type: 'subscribe', id: SUBSCRIBE_ID, channel: conn.channel }),
      );
    }
  },

  setupMessage(conn: DialectConn, message: Buffer): boolean {
    const frame = decodeFrame(message.subarray(LENGTH_PREFIX_BYTES));
    if (frame instanceof FrameError) throw new Error(`pulse sent an undecodable frame: ${frame.message}`);
    if (frame.type === 'error') throw new Error(`pulse refused: ${frame.code} ${frame.message}`);
    if (frame.type === 'connected') return conn.role === 'publisher';
    return frame.type === 'ack' && frame.id === SUBSCRIBE_ID;
  },

  runSink(conn: DialectConn, tally: Tally, samples: LatencySamples | null) {
    return samples ? new MessageSampler(conn, tally, samples) : new MessageCounter(conn, tally);
  },

  publication(channel: string, payload: Buffer) {
    return { opcode: OPCODE_BINARY, message: encodeFrame({ type: 'publish', channel, payload }) };
  },
};
