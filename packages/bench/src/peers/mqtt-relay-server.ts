/**
 * The floor under any MQTT broker written for Node on this machine: a bare relay that answers
 * CONNECT, SUBSCRIBE and PINGREQ and writes every PUBLISH it reads, unchanged, to every other
 * connection that has subscribed (any topic: one channel). No topic matching, no sessions, no
 * checks: what is left is Node's socket reading and writing, its event loop and the splitting
 * of the byte stream into packets, which every Node broker pays.
 *
 * Usage: node mqtt-relay-server.js --host 127.0.0.1 --port 1883
 */
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { host: { type: 'string' }, port: { type: 'string' } } });
const CONNACK = Buffer.from([0x20, 0x02, 0x00, 0x00]);
const PINGRESP = Buffer.from([0xd0, 0x00]);
const subscribers = new Set<net.Socket>();

/** Remaining length at `at` (after the first byte): [length, bytes used], or undefined if incomplete. */
function remainingLength(buf: Buffer, at: number): [number, number] | undefined {
  let length = 0;
  for (let i = 0; i < 4; i++) {
    if (at + i >= buf.length) return undefined;
    const byte = buf[at + i] as number;
    length += (byte & 0x7f) * 128 ** i;
    if ((byte & 0x80) === 0) return [length, i + 1];
  }
  throw new Error('malformed remaining length');
}

function onPacket(socket: net.Socket, packet: Buffer, headerSize: number): void {
  const type = (packet[0] as number) >> 4;
  if (type === 1) socket.write(CONNACK);
  else if (type === 8) {
    // SUBACK: the packet id (the first two bytes after the fixed header), QoS 0 granted.
    const id = packet.subarray(headerSize, headerSize + 2);
    socket.write(Buffer.from([0x90, 0x03, id[0] as number, id[1] as number, 0x00]));
    subscribers.add(socket);
  } else if (type === 3) {
    for (const other of subscribers) if (other !== socket) other.write(packet);
  } else if (type === 12) socket.write(PINGRESP);
}

net
  .createServer((socket) => {
    socket.setNoDelay(true);
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      let buf = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      for (;;) {
        const length = remainingLength(buf, 1);
        if (length === undefined || buf.length < 1 + length[1] + length[0]) break;
        const end = 1 + length[1] + length[0];
        onPacket(socket, buf.subarray(0, end), 1 + length[1]);
        buf = buf.subarray(end);
      }
      pending = buf;
    });
    socket.on('error', () => {});
    socket.on('close', () => subscribers.delete(socket));
  })
  .listen(Number(values.port ?? 1883), values.host ?? '127.0.0.1');

// Started with an IPC channel by the benchmark: go away with it.
process.on('disconnect', () => process.exit(0));
