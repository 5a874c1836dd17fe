import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { Rng } from '@pulse/protocol/test/prng';
import { Packr } from 'msgpackr';
import WebSocket from 'ws';
import { JsonClient, NativeTcp } from './auth-helpers.js';
import { RawWs, scrape } from './helpers.js';
import { type MqttHarness, endAll, mqttClient, startMqtt } from './mqtt-helpers.js';

// biome-ignore lint/suspicious/noExplicitAny: frames are checked field by field
type Json = Record<string, any>;

const plain = new Packr({ useRecords: false, variableMapSize: true });

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};

/** A value position filled with something hostile: an extension, deep nesting, a lying length, noise. */
function hostileValue(rng: Rng): Buffer {
  switch (rng.int(6)) {
    case 0: {
      const heads = [0xd4, 0xd5, 0xd6, 0xd7, 0xd8];
      const sizes = [1, 2, 4, 8, 16];
      const k = rng.int(5);
      return Buffer.concat([Buffer.from([at(heads, k), rng.int(256)]), rng.bytes(at(sizes, k))]);
    }
    case 1: {
      const n = rng.int(300);
      const head = at([0xc7, 0xc8, 0xc9], rng.int(3));
      const len =
        head === 0xc7 ? Buffer.from([n & 0xff]) : head === 0xc8 ? Buffer.from([n >> 8, n & 0xff]) : u32(n);
      return Buffer.concat([Buffer.from([head]), len, Buffer.from([rng.int(256)]), rng.bytes(n & 0xff)]);
    }
    case 2:
      return Buffer.concat([
        Buffer.alloc(20 + rng.int(5000), rng.int(2) === 0 ? 0x91 : 0x9f),
        Buffer.from([0xc0]),
      ]);
    case 3:
      return Buffer.concat([
        Buffer.from([at([0xc6, 0xdb, 0xdd, 0xdf], rng.int(4))]),
        u32(0xffffffff - rng.int(16)),
        rng.bytes(rng.int(8)),
      ]);
    case 4:
      return Buffer.from([0xc1]);
    default:
      // A value with bytes after it: the frame's map ends before the frame does.
      return Buffer.concat([Buffer.from([0xc0]), rng.bytes(1 + rng.int(40))]);
  }
}

/** One hostile frame body: a real frame with one field's value replaced, or noise. */
function hostileBody(rng: Rng): Buffer {
  const templates = [
    { type: 'presence', id: 1, channel: 'fuzz/p', action: rng.int(4), data: 0 },
    { type: 'publish', id: 2, channel: 'fuzz/x', payload: 0 },
    { type: 'subscribe', id: 3, channel: 'fuzz/#', recover: 0 },
    { type: 'history', id: 4, channel: 'fuzz/x', since: 0 },
  ];
  if (rng.int(8) === 0) return rng.bytes(1 + rng.int(64));
  const packed = plain.pack(templates[rng.int(templates.length)]);
  // Every template ends with the field set to 0 (one byte): put the hostile value there.
  return Buffer.concat([packed.subarray(0, -1), hostileValue(rng)]);
}

const framed = (body: Buffer) => Buffer.concat([u32(body.length), body]);

describe('seeded fuzzing of the native listeners with hostile MessagePack (issue 9 items 1, 2)', () => {
  let h: MqttHarness;
  before(async () => {
    h = await startMqtt();
  });
  after(() => h.stop());

  test('TCP and WebSocket: every hostile frame is answered 1001, no connection or exception is lost, native and MQTT bystander pairs get everything in order', async () => {
    const seed = 0x1ee7;
    const rng = new Rng(seed);
    const sub = await RawWs.open(h.wsUrl);
    sub.send({ type: 'subscribe', id: 1, channel: 'bystanders' });
    await sub.frame(1);
    const jsonSub = await JsonClient.open(h.wsUrl);
    await jsonSub.ok('subscribe', { channel: 'fuzz/p' });
    const { c: pub } = await NativeTcp.connect(h.tcpPort);
    const mqttSub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await mqttSub.subscribeAsync('bystanders/mqtt', { qos: 1 });
    const mqttPub = await mqttClient(h.tcpUrl, { protocolVersion: 4 });
    const tcp = await NativeTcp.open(h.tcpPort);
    await tcp.next();
    const ws = new WebSocket(h.wsUrl);
    const wsFrames: Buffer[] = [];
    ws.on('message', (m: Buffer) => wsFrames.push(m));
    await once(ws, 'open');
    const rssBefore = process.memoryUsage().rss;
    let sent = 0;
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 40; i++) {
        const body = hostileBody(rng);
        tcp.socket.write(framed(body));
        ws.send(framed(body));
        sent++;
      }
      // Every hostile frame gets exactly one error 1001 (the last one tells when all are in).
      const errors = (await tcp.frames.waitFor(1 + sent, 10_000)).slice(1);
      assert.equal(errors.length, sent, `seed ${seed} round ${round}`);
      for (const e of errors)
        assert.deepEqual([e.type, (e as Json).code], ['error', 1001], `seed ${seed}: ${JSON.stringify(e)}`);
      for (let k = 0; k < 10; k++) {
        pub.send({ type: 'publish', channel: 'bystanders', payload: Buffer.from([round, k]) });
        mqttPub.publish('bystanders/mqtt', Buffer.from([round, k]), { qos: 1 });
      }
    }
    const delivered = (await sub.frames.waitFor(2 + 100, 10_000)).slice(2);
    assert.deepEqual(
      delivered.map((f) => [...(f as Json).payload]),
      Array.from({ length: 100 }, (_, n) => [Math.floor(n / 10), n % 10]),
    );
    const mqttGot = (await mqttSub.inbox.waitFor(100, 10_000)).map((m) => [...m.payload]);
    assert.deepEqual(
      mqttGot,
      Array.from({ length: 100 }, (_, n) => [Math.floor(n / 10), n % 10]),
    );
    for (let n = 0; n < 100 && wsFrames.length < 1 + sent; n++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(wsFrames.length, 1 + sent, 'every WebSocket frame answered too');
    assert.equal(ws.readyState, WebSocket.OPEN);
    assert.equal(tcp.isClosed, false);
    // Nothing the fuzzer sent joined anyone: the JSON subscriber of the presence channel saw no event.
    assert.equal(jsonSub.pushes.items.length, 0);
    const metrics = await scrape(h);
    const escaped = metrics
      .split('\n')
      .filter((l) => l.startsWith('pulse_connection_errors_total{'))
      .reduce((sum, l) => sum + Number(l.split(' ')[1]), 0);
    assert.equal(escaped, 0, 'no exception escaped a callback');
    assert.ok(process.memoryUsage().rss - rssBefore < 200 * 1024 * 1024, 'memory grew by more than 200 MB');
    ws.close();
    tcp.destroy();
    pub.destroy();
    sub.ws.close();
    jsonSub.close();
    await endAll(mqttSub, mqttPub);
  });
});
