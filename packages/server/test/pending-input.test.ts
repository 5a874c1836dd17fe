import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type Socket, connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ErrorCode, decodeFrame, encodeFrame } from '@pulse/protocol';
import { type Harness, metricValue, scrape } from './helpers.js';
import { type MqttHarness, RawMqtt, connectPacket, eventually, startMqtt, within } from './mqtt-helpers.js';
import { RawWsSocket } from './raw-ws-socket.js';

// A real collection between measurements, so that garbage does not count as held.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const pendingBytes = async (h: Harness) => metricValue(await scrape(h), 'pulse_pending_input_bytes');
const refusals = async (h: Harness) => metricValue(await scrape(h), 'pulse_pending_input_refusals_total');

function heldMemory(): number {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

async function openTcp(port: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  socket.on('error', () => {});
  await once(socket, 'connect');
  return socket;
}

/** Writes `count` bytes one per write, one write per event-loop turn, so that the server reads them one by one. */
async function dribble(socket: Socket, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    socket.write(Buffer.of(i & 0xff));
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** The 4-byte length prefix of a native frame of `length` bytes. */
function nativePrefix(length: number): Buffer {
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(length, 0);
  return prefix;
}

/** A masked WebSocket binary frame header for `length` payload bytes, with the all-zero mask. */
function wsHeader(length: number): Buffer {
  const header = Buffer.alloc(14);
  header[0] = 0x82;
  header[1] = 0x80 | 127;
  header.writeUInt32BE(length, 6);
  return header;
}

/** An MQTT PUBLISH fixed header announcing `remaining` bytes. */
function publishHeader(remaining: number): Buffer {
  const bytes = [0x30];
  let value = remaining;
  do {
    let byte = value & 0x7f;
    value >>= 7;
    if (value > 0) byte |= 0x80;
    bytes.push(byte);
  } while (value > 0);
  return Buffer.from(bytes);
}

describe('a frame dribbled a byte per write is held within 2x of the bytes received', () => {
  let h: MqttHarness;
  before(async () => {
    h = await startMqtt();
  });
  after(() => h.stop());

  const cases: { name: string; bytes: number; open: () => Promise<Socket> }[] = [
    {
      name: 'native over TCP, a 16 MiB frame announced',
      bytes: 150_000,
      async open() {
        const socket = await openTcp(h.tcpPort);
        await once(socket, 'data'); // connected
        socket.write(nativePrefix(16 * 1024 * 1024 - 8));
        return socket;
      },
    },
    {
      name: 'native over WebSocket, a 15 MiB message announced',
      bytes: 80_000,
      async open() {
        const raw = await RawWsSocket.open(Number(new URL(h.httpUrl).port), '/ws');
        raw.socket.setNoDelay(true);
        raw.socket.write(wsHeader(15 * 1024 * 1024));
        return raw.socket;
      },
    },
    {
      name: 'MQTT over TCP, a 1 MiB PUBLISH announced',
      bytes: 80_000,
      async open() {
        const { raw } = await RawMqtt.connect(h.mqttPort, 4);
        raw.socket.setNoDelay(true);
        raw.write(publishHeader(1_048_000));
        return raw.socket;
      },
    },
  ];

  for (const c of cases) {
    test(`${c.name}: ${c.bytes} bytes`, async () => {
      const socket = await c.open();
      try {
        // The announced header alone (also: the metrics code has run once before measuring).
        assert.ok((await pendingBytes(h)) <= 256);
        const before = heldMemory();
        await dribble(socket, c.bytes);
        await eventually(
          async () => (await pendingBytes(h)) >= c.bytes,
          'the server to have read everything',
        );
        const held = await pendingBytes(h);
        assert.ok(
          held <= 2 * c.bytes + 256,
          `pulse_pending_input_bytes ${held} for ${c.bytes} bytes received`,
        );
        // Everything in this process (server, client) against the bytes received, with 1 MiB for
        // the code compiled on the way; a Buffer kept per socket chunk would cost ~200 bytes each.
        const growth = heldMemory() - before;
        assert.ok(
          growth < 10 * c.bytes + 1_048_576,
          `memory grew ${growth} bytes for ${c.bytes} bytes received`,
        );
      } finally {
        socket.destroy();
      }
      await eventually(async () => (await pendingBytes(h)) === 0, 'the held bytes to be released on close');
    });
  }
});

describe('limits.max_pending_input_bytes caps what all connections together hold', () => {
  const LIMIT = 512 * 1024;
  let h: MqttHarness;
  before(async () => {
    h = await startMqtt({ limits: { max_pending_input_bytes: LIMIT, max_message_size: 1_048_576 } });
  });
  after(() => h.stop());

  test('past it, the connection whose input would not fit is closed with its protocol error; the others carry on', async () => {
    // A holds 150 KB of a 200 KB publication, within the limit.
    const a = await openTcp(h.tcpPort);
    const aFrames: Buffer[] = [];
    a.on('data', (chunk: Buffer) => aFrames.push(chunk));
    await eventually(() => aFrames.length > 0, 'connected');
    const publication = encodeFrame({
      type: 'publish',
      id: 7,
      channel: 'big',
      payload: Buffer.alloc(200_000, 1),
    });
    a.write(publication.subarray(0, 150_000));
    await eventually(async () => (await pendingBytes(h)) >= 150_000, 'A held');

    // B (native over TCP): 400 KB of a 16 MiB frame do not fit next to A: error 1006, then the close.
    const b = await openTcp(h.tcpPort);
    const bBytes: Buffer[] = [];
    b.on('data', (chunk: Buffer) => bBytes.push(chunk));
    b.write(Buffer.concat([nativePrefix(16 * 1024 * 1024 - 8), Buffer.alloc(400_000)]));
    await within(once(b, 'close'), 5000, 'B closed');
    const fromB = Buffer.concat(bBytes);
    const frames = [];
    for (let pos = 0; pos < fromB.length; pos += 4 + fromB.readUInt32BE(pos)) {
      frames.push(decodeFrame(fromB.subarray(pos + 4, pos + 4 + fromB.readUInt32BE(pos))));
    }
    assert.deepEqual(frames.at(-1), {
      type: 'error',
      id: 0,
      code: ErrorCode.RateLimited,
      message: 'server input buffers are full: frame refused',
    });

    // C (MQTT 5): a PUBLISH of 900 KB: DISCONNECT 0x97 Quota exceeded.
    const c = await RawMqtt.open(h.mqttPort, 5);
    c.send(connectPacket(5));
    await c.next('connack');
    c.write(Buffer.concat([publishHeader(900_000), Buffer.alloc(400_000)]));
    const disconnect = (await c.next('disconnect', 5000)) as { reasonCode?: number };
    assert.equal(disconnect.reasonCode, 0x97);
    await within(c.closed, 5000, 'C closed');

    // D (WebSocket): close 1013 Try Again Later.
    const d = await RawWsSocket.open(Number(new URL(h.httpUrl).port), '/ws');
    d.socket.write(Buffer.concat([wsHeader(900_000), Buffer.alloc(400_000)]));
    await within(d.closed, 5000, 'D closed');
    const fromD = d.bytes;
    const closeAt = fromD.lastIndexOf(Buffer.from([0x88]));
    assert.ok(closeAt >= 0, 'a close frame');
    assert.equal(fromD.readUInt16BE(closeAt + 2), 1013);
    assert.match(fromD.subarray(closeAt + 4).toString(), /server input buffers are full/);

    assert.equal(await refusals(h), 3);
    // A finishes its publication and gets its ack.
    a.write(publication.subarray(150_000));
    await eventually(() => {
      const all = Buffer.concat(aFrames);
      for (let pos = 0; pos + 4 <= all.length; pos += 4 + all.readUInt32BE(pos)) {
        const f = decodeFrame(all.subarray(pos + 4, pos + 4 + all.readUInt32BE(pos))) as {
          type: string;
          id?: number;
        };
        if (f.type === 'ack' && f.id === 7) return true;
      }
      return false;
    }, 'the ack of A');
    a.destroy();
    await eventually(async () => (await pendingBytes(h)) === 0, 'nothing held at the end');
  });
});
