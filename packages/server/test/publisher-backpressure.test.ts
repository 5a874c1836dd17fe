import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { IPublishPacket, Packet } from 'mqtt-packet';
import { encodeFrame } from '@pulse/protocol';
import { Inbox, RawTcp, counterValue, scrape, sleep } from './helpers.js';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { RawMqtt, encode, endAll, eventually, mqttClient, qos1Publishes, startMqtt } from './mqtt-helpers.js';
import { PAUSED_OVERFLOW_BYTES } from '../src/transport/connection.js';

const BUDGET = 64 * 1024;
const PAYLOAD = 1024;
/** Far more than the budget plus the loopback socket buffers. */
const COUNT = 10_000;

function publishes(topic: string, count: number): Buffer {
  const packets: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const payload = Buffer.alloc(PAYLOAD, i % 251);
    payload.writeUInt32BE(i, 0);
    packets.push(encode({ cmd: 'publish', topic, payload, qos: 0, dup: false, retain: false } as Packet));
  }
  return Buffer.concat(packets);
}

const numbers = (packets: Packet[]) =>
  packets
    .filter((p) => p.cmd === 'publish')
    .map((p) => Buffer.from((p as IPublishPacket).payload).readUInt32BE(0));

/** Waits for `count` PUBLISH packets (the CONNACK and SUBACK come first). */
async function publishesReceived(raw: RawMqtt, count: number): Promise<number[]> {
  await raw.packets.waitFor(count + 2, 20_000).catch((err: Error) => {
    const got = numbers(raw.packets.items);
    const missing = Array.from({ length: count }, (_, i) => i).filter((i) => !got.includes(i));
    throw new Error(`${err.message}; missing ${missing.slice(0, 10).join(',')}`);
  });
  return numbers(raw.packets.items);
}

async function subscribed(port: number, topic: string): Promise<RawMqtt> {
  const { raw } = await RawMqtt.connect(port, 5);
  raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 0 }] } as Packet);
  await raw.next('suback');
  return raw;
}

test('MQTT QoS 0, default limits: a reader slower than its publisher loses nothing; the publisher is paused instead', async () => {
  const h = await startMqtt({ limits: { max_outbound_bytes: BUDGET } });
  try {
    const reader = await subscribed(h.mqttPort, 'lock/step');
    const { raw: publisher } = await RawMqtt.connect(h.mqttPort, 5);
    // Not reading for a while (well under the default max_publisher_pause_ms, 1 s), then reading again.
    reader.socket.pause();
    publisher.write(publishes('lock/step', COUNT));
    await sleep(400);
    reader.socket.resume();
    assert.deepEqual(
      await publishesReceived(reader, COUNT),
      Array.from({ length: COUNT }, (_, i) => i),
      'every publication, in order',
    );
    const metrics = await scrape(h);
    assert.ok(counterValue(metrics, 'pulse_publisher_pauses_total{transport="mqtt"}') >= 1, 'paused');
    assert.equal(counterValue(metrics, 'pulse_mqtt_dropped_total{reason="slow_consumer"}'), 0);
    assert.equal(counterValue(metrics, 'pulse_reader_stalls_total{transport="mqtt"}'), 0);
    publisher.destroy();
    reader.destroy();
  } finally {
    await h.stop();
  }
});

test('a stalled reader pauses the publisher for limits.max_publisher_pause_ms at most, then loses messages alone', async () => {
  const pauseMs = 2000;
  const h = await startMqtt({ limits: { max_outbound_bytes: BUDGET, max_publisher_pause_ms: pauseMs } });
  try {
    const stalled = await subscribed(h.mqttPort, 'flood');
    const bystander = await subscribed(h.mqttPort, 'flood');
    // Keep alive 1 s: the server closes it after 1.5 s of silence, but while it is paused
    // (2 s here) its silence is the server's doing.
    const { raw: publisher } = await RawMqtt.connect(h.mqttPort, 5, { keepalive: 1 });
    stalled.socket.pause();
    const started = Date.now();
    publisher.write(publishes('flood', COUNT));
    const got = await publishesReceived(bystander, COUNT);
    const took = Date.now() - started;
    assert.deepEqual(
      got,
      Array.from({ length: COUNT }, (_, i) => i),
    );
    assert.ok(took >= pauseMs - 50, `the bystander waited for the pause (${took} ms)`);
    assert.equal(publisher.isClosed, false, 'the paused publisher was not timed out');
    publisher.send({ cmd: 'pingreq' } as Packet);
    await publisher.next('pingresp');
    const metrics = await scrape(h);
    assert.equal(counterValue(metrics, 'pulse_reader_stalls_total{transport="mqtt"}'), 1);
    assert.ok(
      counterValue(metrics, 'pulse_mqtt_dropped_total{reason="slow_consumer"}') > 0,
      'the stalled reader lost messages',
    );
    // The stalled reader holds at most its budget and what one read of the publisher brought.
    const held = h.server.outboundBytes();
    assert.ok(held <= BUDGET + PAUSED_OVERFLOW_BYTES, `held ${held} bytes`);
    stalled.destroy();
    bystander.destroy();
    publisher.destroy();
  } finally {
    await h.stop();
  }
});

test('native: a publisher over TCP is paused by a slow native reader, and nothing is lost', async () => {
  const h = await startMqtt({ limits: { max_outbound_bytes: BUDGET, max_publisher_pause_ms: 2000 } });
  try {
    const reader = await RawTcp.open(h.tcpPort);
    reader.send({ type: 'subscribe', id: 1, channel: 'native/flood' });
    await reader.frames.waitFor(2);
    const publisher = await RawTcp.open(h.tcpPort);
    reader.socket.pause();
    const frames: Buffer[] = [];
    for (let i = 0; i < COUNT; i++) {
      const payload = Buffer.alloc(PAYLOAD, 7);
      payload.writeUInt32BE(i, 0);
      frames.push(encodeFrame({ type: 'publish', channel: 'native/flood', payload }));
    }
    publisher.socket.write(Buffer.concat(frames));
    await sleep(400);
    reader.socket.resume();
    const got = await reader.frames.waitFor(2 + COUNT, 20_000);
    const received = got
      .slice(2)
      .map((f) => Buffer.from((f as { payload: Uint8Array }).payload).readUInt32BE(0));
    assert.deepEqual(
      received,
      Array.from({ length: COUNT }, (_, i) => i),
    );
    const metrics = await scrape(h);
    assert.ok(counterValue(metrics, 'pulse_publisher_pauses_total{transport="tcp"}') >= 1);
    assert.equal(counterValue(metrics, 'pulse_dropped_total{transport="tcp"}'), 0);
    reader.socket.destroy();
    publisher.socket.destroy();
  } finally {
    await h.stop();
  }
});

test('limits.max_publisher_pause_ms = 0: no pause, the policy applies at once (the old behaviour)', async () => {
  const h = await startMqtt({ limits: { max_outbound_bytes: BUDGET, max_publisher_pause_ms: 0 } });
  try {
    const reader = await subscribed(h.mqttPort, 'old');
    const { raw: publisher } = await RawMqtt.connect(h.mqttPort, 5);
    reader.socket.pause();
    publisher.write(publishes('old', COUNT));
    await sleep(400);
    reader.socket.resume();
    const inbox = new Inbox<number>();
    await sleep(500);
    inbox.push(numbers(reader.packets.items).length);
    const metrics = await scrape(h);
    assert.equal(counterValue(metrics, 'pulse_publisher_pauses_total{transport="mqtt"}'), 0);
    assert.ok(counterValue(metrics, 'pulse_mqtt_dropped_total{reason="slow_consumer"}') > 0, 'dropped');
    assert.ok((inbox.items[0] ?? 0) < COUNT, 'not everything arrived');
    publisher.destroy();
    reader.destroy();
  } finally {
    await h.stop();
  }
});

test('MQTT QoS 1: a session queue half full pauses the publisher; nothing is dropped from mqtt.max_queued_messages', async () => {
  const h = await startMqtt({
    mqtt: { max_inflight_messages: 16, max_queued_messages: 200 },
    limits: { max_publisher_pause_ms: 2000 },
  });
  try {
    const subscriber = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    const got: number[] = [];
    subscriber.on('message', (_topic, payload) => got.push(payload.readUInt32BE(0)));
    await subscriber.subscribeAsync('acked', { qos: 1 });
    const { raw: publisher } = await RawMqtt.connect(h.mqttPort, 5);
    subscriber.stream.pause();
    publisher.write(qos1Publishes('acked', 0, 3000));
    await sleep(400);
    subscriber.stream.resume();
    await eventually(async () => got.length >= 3000, 'all 3000', 20_000);
    assert.deepEqual(
      got,
      Array.from({ length: 3000 }, (_, i) => i),
    );
    const metrics = await scrape(h);
    assert.ok(counterValue(metrics, 'pulse_publisher_pauses_total{transport="mqtt"}') >= 1);
    assert.equal(counterValue(metrics, 'pulse_mqtt_dropped_total{reason="queue_full"}'), 0);
    // Its 3000 PUBACKs all came back once it could read again.
    await eventually(
      async () => publisher.unread().filter((p) => p.cmd === 'puback').length === 3000,
      'pubacks',
    );
    publisher.destroy();
    await endAll(subscriber);
  } finally {
    await h.stop();
  }
});

test('a subscriber that goes away lets the publisher it paused read again at once', async () => {
  const h = await startMqtt({ limits: { max_outbound_bytes: BUDGET, max_publisher_pause_ms: 30_000 } });
  try {
    const reader = await subscribed(h.mqttPort, 'gone');
    const { raw: publisher } = await RawMqtt.connect(h.mqttPort, 5);
    reader.socket.pause();
    publisher.write(publishes('gone', 2000));
    await eventually(
      async () => counterValue(await scrape(h), 'pulse_publisher_pauses_total{transport="mqtt"}') >= 1,
      'paused',
    );
    reader.destroy();
    publisher.send({ cmd: 'pingreq' } as Packet);
    await publisher.next('pingresp', 2000);
    publisher.destroy();
  } finally {
    await h.stop();
  }
});

/** A bare MQTT 5 client socket, subscribed to `topic` at QoS 0 when one is given; reads nothing back into memory. */
async function bareClient(port: number, id: string, topic?: string): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  socket.on('data', () => {});
  await once(socket, 'connect');
  socket.write(
    encode({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 5,
      clean: true,
      clientId: id,
      keepalive: 30,
    } as Packet),
  );
  if (topic !== undefined) {
    socket.write(encode({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 0 }] } as Packet));
  }
  return socket;
}

/** Writes 64 KiB batches of QoS 0 publications as fast as the server reads them, until `stop()`. */
function flood(socket: Socket, topic: string): { stop(): void } {
  const batch = publishes(topic, 64);
  let stopped = false;
  const write = () => {
    while (!stopped && socket.writable && socket.write(batch)) {}
    if (!stopped && socket.writable) socket.once('drain', write);
  };
  write();
  return {
    stop: () => {
      stopped = true;
    },
  };
}

/**
 * Readers that stop reading for `stopMs` and read for `readMs`, taking turns, against one
 * publisher flooding their channel for `durationMs` (a new publisher connection every
 * `publisherLifetimeMs`): returns how long publishers were paused, in seconds.
 */
async function stopStartAttack(options: {
  readers: number;
  durationMs: number;
  publisherLifetimeMs?: number;
  limits: Record<string, unknown>;
}): Promise<number> {
  const stopMs = 900;
  const readMs = 100;
  const h = await startMqtt({ limits: { max_outbound_bytes: BUDGET, ...options.limits } });
  const sockets: Socket[] = [];
  const timers: NodeJS.Timeout[] = [];
  try {
    for (let i = 0; i < options.readers; i++) {
      const reader = await bareClient(h.mqttPort, `stop-start-${i}`, 'attack');
      sockets.push(reader);
      const cycle = () => {
        reader.pause();
        timers.push(
          setTimeout(() => {
            reader.resume();
            timers.push(setTimeout(cycle, readMs));
          }, stopMs),
        );
      };
      timers.push(setTimeout(cycle, (i * (stopMs + readMs)) / options.readers));
    }
    await sleep(100);
    const started = Date.now();
    while (Date.now() - started < options.durationMs) {
      const publisher = await bareClient(h.mqttPort, `flood-${Date.now()}`);
      sockets.push(publisher);
      const writer = flood(publisher, 'attack');
      await sleep(
        Math.min(
          options.publisherLifetimeMs ?? options.durationMs,
          options.durationMs - (Date.now() - started),
        ),
      );
      writer.stop();
      publisher.destroy();
    }
    const metrics = await scrape(h);
    return counterValue(metrics, 'pulse_publisher_paused_seconds_total{transport="mqtt"}');
  } finally {
    for (const t of timers) clearTimeout(t);
    for (const s of sockets) s.destroy();
    await h.stop();
  }
}

test('readers that stop and start reading in turns hold a publisher for its allowance, then limits.publisher_pause_percent of the time', async () => {
  const limits = { max_publisher_pause_ms: 300, publisher_pause_percent: 10 };
  const paused = await stopStartAttack({ readers: 5, durationMs: 4000, limits });
  // The publisher's allowance, twice the readers' 300 ms, then 10 % of 4 s, and a little for
  // timers and the last read.
  assert.ok(paused > 0.1, `paused at all (${paused} s)`);
  assert.ok(paused <= 0.6 + 0.4 + 0.3, `paused ${paused} s of 4`);
  // The same attack with an allowance that lasts longer than the test.
  const unbounded = await stopStartAttack({
    readers: 5,
    durationMs: 4000,
    limits: { max_publisher_pause_ms: 60_000, publisher_pause_percent: 100 },
  });
  assert.ok(unbounded > 2.5, `without the allowance the attack works (${unbounded} s of 4)`);
});

test("one reader's allowance bounds its pauses over publishers that come and go", async () => {
  // Each new publisher brings a full allowance of its own; the reader's is what holds.
  const paused = await stopStartAttack({
    readers: 1,
    durationMs: 4000,
    publisherLifetimeMs: 500,
    limits: { max_publisher_pause_ms: 300, publisher_pause_percent: 5 },
  });
  assert.ok(paused > 0.1, `paused at all (${paused} s)`);
  // 300 ms, then 5 % of 4 s; eight publishers alone would allow 8 x 300 ms.
  assert.ok(paused <= 0.3 + 0.2 + 0.3, `paused ${paused} s of 4`);
});
