import type { Rng } from './fuzz-settings.js';
import type { Input } from './native-inputs.js';
import { Opcode, clientFrame } from './ws-raw.js';

/** The largest payload length a 64-bit WebSocket length can say, the RFC's limit, and a few past the server's. */
const HUGE_LENGTHS = [
  2n ** 63n,
  2n ** 63n - 1n,
  2n ** 64n - 1n,
  16n * 1024n * 1024n + 5n,
  16n * 1024n * 1024n + 4n,
  2n ** 32n,
];

/**
 * WebSocket framing gone wrong around `message` (a valid message of the protocol): lengths
 * declared huge, unmasked or reserved frames, broken fragmentation, bad close frames.
 */
export function wsFrameInput(rng: Rng, message: Uint8Array, opcode: number = Opcode.binary): Input {
  switch (rng.int(12)) {
    case 0: {
      const declared = rng.pick(HUGE_LENGTHS);
      return {
        what: `frame declaring ${declared} bytes`,
        bytes: clientFrame(opcode, message, { declaredLength: declared, lengthForm: 64 }),
      };
    }
    case 1:
      return { what: 'unmasked frame', bytes: clientFrame(opcode, message, { masked: false }) };
    case 2:
      return { what: 'reserved bits', bytes: clientFrame(opcode, message, { rsv: rng.range(1, 7) }) };
    case 3:
      return {
        what: 'reserved opcode',
        bytes: clientFrame(rng.pick([3, 4, 5, 6, 7, 11, 12, 13, 14, 15]), message),
      };
    case 4:
      return {
        what: 'control frame over 125 bytes',
        bytes: clientFrame(Opcode.ping, Buffer.alloc(126 + rng.int(1000))),
      };
    case 5:
      return { what: 'fragmented ping', bytes: clientFrame(Opcode.ping, Buffer.from('x'), { fin: false }) };
    case 6:
      return { what: 'continuation without a start', bytes: clientFrame(Opcode.continuation, message) };
    case 7: {
      // The message in one-byte fragments, a ping in the middle, sometimes a new message before the end.
      const parts: Buffer[] = [];
      for (let i = 0; i < message.length; i++) {
        parts.push(
          clientFrame(i === 0 ? opcode : Opcode.continuation, message.subarray(i, i + 1), {
            fin: i === message.length - 1,
          }),
        );
        if (i === 1) parts.push(clientFrame(rng.bool() ? Opcode.ping : Opcode.text, Buffer.from('p')));
      }
      return { what: 'one-byte fragments', bytes: Buffer.concat(parts) };
    }
    case 8: {
      // Thousands of empty fragments.
      const empty = clientFrame(Opcode.continuation, Buffer.alloc(0), { fin: false });
      return {
        what: '5000 empty fragments',
        bytes: Buffer.concat([
          clientFrame(opcode, Buffer.alloc(0), { fin: false }),
          ...Array(5000).fill(empty),
        ]),
      };
    }
    case 9: {
      const code = Buffer.alloc(2);
      code.writeUInt16BE(rng.pick([0, 999, 1004, 1005, 1006, 1015, 2999, 5000, 65535]));
      const reason = rng.bool() ? Buffer.from([0xc3, 0x28, 0xff]) : Buffer.alloc(0);
      return {
        what: 'bad close frame',
        bytes: clientFrame(Opcode.close, rng.bool(0.2) ? Buffer.from([1]) : Buffer.concat([code, reason])),
      };
    }
    case 10:
      return {
        what: 'invalid UTF-8 text',
        bytes: clientFrame(Opcode.text, Buffer.from([0x7b, 0xed, 0xa0, 0x80, 0xc0, 0xaf, 0x7d])),
      };
    default:
      return {
        what: '64-bit length form for a short frame',
        bytes: clientFrame(opcode, message, { lengthForm: rng.pick([16, 64] as const) }),
      };
  }
}
