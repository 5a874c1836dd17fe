import type { Dialect, DialectConn, Tally } from '../generator/dialect.js';
import type { LatencySamples } from '../generator/marker.js';
import { MessageCounter, MessageSampler } from '../generator/message-sinks.js';
import { OPCODE_BINARY, OPCODE_TEXT } from '../generator/ws-frames.js';

/** The reply of peers/naive-ws-server to a join, so that setup knows the join took effect. */
export const NAIVE_JOINED = 'joined';

/**
 * The tutorial-style `ws` broadcast server (peers/naive-ws-server.ts): the first message names the
 * room to join, every later one is broadcast as is to the other members. Publishers join the room
 * they publish to (the server never echoes to the sender).
 */
export const naiveWsDialect: Dialect = {
  name: 'naive-ws',
  path: '/',

  open(conn: DialectConn): void {
    conn.sendMessage(OPCODE_TEXT, conn.channel);
  },

  setupMessage(_conn: DialectConn, message: Buffer): boolean {
    if (message.toString('latin1') !== NAIVE_JOINED) throw new Error(`unexpected reply to join: ${message}`);
    return true;
  },

  runSink(conn: DialectConn, tally: Tally, samples: LatencySamples | null) {
    return samples ? new MessageSampler(conn, tally, samples) : new MessageCounter(conn, tally);
  },

  publication(_channel: string, payload: Buffer) {
    return { opcode: OPCODE_BINARY, message: Buffer.from(payload) };
  },
};
