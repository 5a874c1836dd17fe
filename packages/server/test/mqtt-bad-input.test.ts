import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import { once } from 'node:events';
import { test } from 'node:test';
import mqttPacket, { type Packet } from 'mqtt-packet';
import WebSocket from 'ws';
import { sleep } from './helpers.js';
import {
  type MqttHarness,
  RawMqtt,
  connectPacket,
  encode,
  endAll,
  lstr,
  metric,
  mqttClient,
  rawPacket,
  withMqtt,
} from './mqtt-helpers.js';

/** Connects (v4 or v5), sends `bytes`, expects DISCONNECT `reason` (v5) and the close. */
async function expectRejected(h: MqttHarness, version: 4 | 5, bytes: Buffer, reason: number, what: string) {
  const { raw } = await RawMqtt.connect(h.mqttPort, version);
  raw.write(bytes);
  if (version === 5) {
    const d = (await raw.next('disconnect').catch((err: Error) => {
      throw new Error(`${what}: ${err.message}`);
    })) as { reasonCode: number };
    assert.equal(d.reasonCode, reason, `${what}: reason 0x${d.reasonCode.toString(16)}`);
  }
  await raw.expectClosed();
  assert.deepEqual(
    raw
      .unread()
      .filter((p) => p.cmd !== 'disconnect')
      .map((p) => p.cmd),
    [],
    `${what}: nothing but DISCONNECT`,
  );
  assert.deepEqual(raw.parseErrors, [], `${what}: the server's packets are well formed`);
}

test('malformed packets: DISCONNECT 0x81 (v5) or a close (3.1.1), each counted as a parse error', async () => {
  await withMqtt({}, async (h) => {
    const before = await metric(h, 'pulse_mqtt_parse_errors_total');
    const cases: [string, Buffer][] = [
      ['Remaining Length longer than 4 bytes', Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])],
      ['SUBSCRIBE with reserved flags 0000', rawPacket(0x80, [0, 1], lstr('a'), [0])],
      ['PUBREL with reserved flags 0000', rawPacket(0x60, [0, 1])],
      ['PUBLISH with QoS 3', rawPacket(0x36, lstr('a'), [0, 1])],
      ['PUBLISH whose topic runs past the packet', rawPacket(0x30, [0, 50], Buffer.from('short'))],
      [
        'PUBLISH topic that is not UTF-8',
        rawPacket(0x30, lstr(Buffer.from([0x61, 0xff, 0xfe])), [0], Buffer.from('x')),
      ],
      ['PUBLISH topic with U+0000', rawPacket(0x30, lstr('a\u0000b'), [0], Buffer.from('x'))],
      ['SUBSCRIBE with subscription options bits 7-6 set', rawPacket(0x82, [0, 1], [0], lstr('a'), [0xc0])],
      ['SUBSCRIBE with retain handling 3', rawPacket(0x82, [0, 1], [0], lstr('a'), [0x30])],
      ['reserved packet type 0', rawPacket(0x00, [])],
    ];
    for (const [what, bytes] of cases) {
      // v5 needs the property length byte that 3.1.1 lacks; the cases are written for v5.
      await expectRejected(h, 5, bytes, 0x81, what);
    }
    await expectRejected(h, 4, Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), 0, 'v4 remaining length');
    await expectRejected(h, 4, rawPacket(0x80, [0, 1], lstr('a'), [0]), 0, 'v4 SUBSCRIBE flags');
    await expectRejected(h, 4, rawPacket(0x82, [0, 1], lstr('a'), [0x04]), 0, 'v4 SUBSCRIBE option bits');
    assert.equal(await metric(h, 'pulse_mqtt_parse_errors_total'), before + cases.length + 3);
  });
});

test('a packet identifier cut to one byte is malformed, not a crash (mqtt-packet reads it as -1)', async () => {
  await withMqtt({}, async (h) => {
    const cases: [string, Buffer][] = [
      ['QoS 1 PUBLISH', Buffer.from([0x32, 0x04, 0x00, 0x01, 0x74, 0x05])],
      ['QoS 2 PUBLISH', Buffer.from([0x34, 0x04, 0x00, 0x01, 0x74, 0x05])],
      ['PUBREL', Buffer.from([0x62, 0x01, 0x05])],
      ['PUBACK', Buffer.from([0x40, 0x01, 0x05])],
    ];
    for (const [what, bytes] of cases) {
      await expectRejected(h, 4, bytes, 0, `v4 ${what}`);
      await expectRejected(h, 5, bytes, 0x81, `v5 ${what}`);
    }
    // Still serving.
    const bystander = await mqttClient(h.tcpUrl);
    await bystander.subscribeAsync('still/up');
    await bystander.publishAsync('still/up', 'yes');
    assert.equal(at(await bystander.inbox.waitFor(1), 0).payload.toString(), 'yes');
    await endAll(bystander);
  });
});

test('malformed and repeated v5 properties: 0x81 / 0x82, never passed on', async () => {
  await withMqtt({}, async (h) => {
    const sub = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
    await sub.subscribeAsync('#', { qos: 1 });
    const props = (bytes: number[]) => Buffer.concat([Buffer.from([bytes.length]), Buffer.from(bytes)]);
    const cases: [string, Buffer, number][] = [
      [
        'message expiry twice',
        rawPacket(0x30, lstr('p/a'), props([0x02, 0, 0, 0, 5, 0x02, 0, 0, 0, 9]), Buffer.from('x')),
        0x82,
      ],
      [
        'topic alias twice',
        rawPacket(0x30, lstr('p/a'), props([0x23, 0, 1, 0x23, 0, 2]), Buffer.from('x')),
        0x82,
      ],
      [
        'content type twice',
        rawPacket(0x30, lstr('p/a'), props([0x03, 0, 1, 0x61, 0x03, 0, 1, 0x62]), Buffer.from('x')),
        0x82,
      ],
      ['unknown property id', rawPacket(0x30, lstr('p/a'), props([0x7e, 1]), Buffer.from('x')), 0x81],
      ['property running past its section', rawPacket(0x30, lstr('p/a'), props([0x03, 0, 9, 0x61])), 0x81],
      ['user property cut short', rawPacket(0x30, lstr('p/a'), props([0x26, 0, 1, 0x61, 0, 9])), 0x81],
      [
        'subscription identifier twice in SUBSCRIBE',
        rawPacket(0x82, [0, 1], props([0x0b, 1, 0x0b, 2]), lstr('p/#'), [1]),
        0x82,
      ],
      [
        'subscription identifier that does not end',
        rawPacket(0x82, [0, 1], props([0x0b, 0xff, 0xff, 0xff, 0xff]), lstr('p/#'), [1]),
        0x81,
      ],
    ];
    for (const [what, bytes, reason] of cases) await expectRejected(h, 5, bytes, reason, what);
    await sleep(50);
    assert.deepEqual(sub.inbox.items, [], 'nothing malformed reached a subscriber');
    assert.equal(sub.connected, true);
    await endAll(sub);
  });
});

test('protocol violations after CONNECT: DISCONNECT 0x82 (v5) or a close, counted', async () => {
  await withMqtt({}, async (h) => {
    const before = await metric(h, 'pulse_mqtt_parse_errors_total');
    const server: [string, Packet][] = [
      ['CONNACK from a client', { cmd: 'connack', returnCode: 0, reasonCode: 0, sessionPresent: false }],
      ['SUBACK from a client', { cmd: 'suback', messageId: 1, granted: [0] }],
      ['UNSUBACK from a client', { cmd: 'unsuback', messageId: 1, granted: [0] }],
      ['PINGRESP from a client', { cmd: 'pingresp' }],
      ['AUTH without an authentication method', { cmd: 'auth', reasonCode: 0x18 }],
    ];
    for (const [what, packet] of server) await expectRejected(h, 5, encode(packet, 5), 0x82, what);
    for (const [what, packet] of server.slice(0, 4))
      await expectRejected(h, 4, encode(packet, 4), 0, `v4 ${what}`);
    const more: [string, Buffer][] = [
      ['SUBSCRIBE without a topic filter', rawPacket(0x82, [0, 1], [0])],
      ['UNSUBSCRIBE without a topic filter', rawPacket(0xa2, [0, 1], [0])],
      ['QoS 1 PUBLISH with packet id 0', rawPacket(0x32, lstr('a'), [0, 0], [0], Buffer.from('x'))],
      ['SUBSCRIBE with packet id 0', rawPacket(0x82, [0, 0], [0], lstr('a'), [0])],
    ];
    for (const [what, bytes] of more) await expectRejected(h, 5, bytes, 0x82, what);
    assert.equal(await metric(h, 'pulse_mqtt_parse_errors_total'), before + server.length + 4 + more.length);
  });
});

test('MQTT over WebSocket: a message larger than mqtt.max_packet_size gets DISCONNECT 0x95 (v5), then close 1009', async () => {
  await withMqtt({ mqtt: { max_packet_size: 1024 } }, async (h) => {
    const ws = new WebSocket(h.mqttWsUrl, 'mqtt');
    await once(ws, 'open');
    ws.send(encode(connectPacket(5), 5));
    await once(ws, 'message');
    ws.send(
      encode(
        { cmd: 'publish', topic: 'big', payload: Buffer.alloc(4000), qos: 0, dup: false, retain: false },
        5,
      ),
    );
    const packets: Packet[] = [];
    const parser = mqttPacket.parser({ protocolVersion: 5 });
    parser.on('packet', (p: Packet) => packets.push(p));
    ws.on('message', (data: Buffer) => parser.parse(data));
    const [code] = await once(ws, 'close');
    assert.equal(code, 1009);
    assert.deepEqual(
      packets.map((p) => [p.cmd, (p as { reasonCode?: number }).reasonCode]),
      [['disconnect', 0x95]],
    );
  });
});

/** xorshift32: the fuzz test is reproducible from its seed. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

test('fuzz: random and mutated packets on many raw sockets never crash the server or cost a bystander a message', async () => {
  const seed = Number(process.env.PULSE_FUZZ_SEED ?? 0x5eed);
  const rand = prng(seed);
  const int = (n: number) => Math.floor(rand() * n);
  await withMqtt(
    { mqtt: { max_packet_size: 4096, receive_maximum: 8, topic_alias_maximum: 4 } },
    async (h) => {
      const bystander = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
      await bystander.subscribeAsync('bystander/q9z', { qos: 1 });
      const feeder = await mqttClient(h.mqttWsUrl, { protocolVersion: 4 });
      let sent = 0;
      let feeding = true;
      const feed = (async () => {
        while (feeding) {
          await feeder.publishAsync('bystander/q9z', String(sent), { qos: 1 });
          sent++;
          await sleep(2);
        }
      })();

      const corpus = (v: 4 | 5): Buffer[] => {
        const props = v === 5;
        const list: Packet[] = [
          { cmd: 'publish', topic: 'f/a', payload: Buffer.from('hello'), qos: 0, dup: false, retain: false },
          {
            cmd: 'publish',
            topic: 'f/b',
            payload: Buffer.alloc(40, 7),
            qos: 1,
            messageId: 3,
            dup: false,
            retain: true,
          },
          {
            cmd: 'publish',
            topic: 'f/c',
            payload: Buffer.from('x'),
            qos: 2,
            messageId: 4,
            dup: false,
            retain: false,
          },
          {
            cmd: 'subscribe',
            messageId: 5,
            subscriptions: [
              { topic: 'f/#', qos: 2 },
              { topic: '$share/g/f/+', qos: 1 },
            ],
          },
          { cmd: 'unsubscribe', messageId: 6, unsubscriptions: ['f/#'] },
          { cmd: 'pubrel', messageId: 4 },
          { cmd: 'puback', messageId: 1 },
          { cmd: 'pubrec', messageId: 2 },
          { cmd: 'pubcomp', messageId: 2 },
          { cmd: 'pingreq' },
          { cmd: 'disconnect' },
        ];
        if (props) {
          list.push({
            cmd: 'publish',
            topic: 'f/p',
            payload: Buffer.from('props'),
            qos: 1,
            messageId: 9,
            dup: false,
            retain: false,
            properties: {
              topicAlias: 2,
              messageExpiryInterval: 30,
              contentType: 'text/plain',
              responseTopic: 'f/r',
              correlationData: Buffer.from([1, 2]),
              userProperties: { k: 'v', z: ['1', '2'] },
              payloadFormatIndicator: true,
            },
          });
          list.push({
            cmd: 'subscribe',
            messageId: 10,
            properties: { subscriptionIdentifier: 77, userProperties: { a: 'b' } },
            subscriptions: [{ topic: 'f/+', qos: 1, nl: true, rap: true, rh: 1 }],
          });
        }
        return list.map((p) => encode(p, v));
      };
      const corpora = { 4: corpus(4), 5: corpus(5) };
      const mutate = (input: Buffer): Buffer => {
        let b = Buffer.from(input);
        const edits = 1 + int(4);
        for (let e = 0; e < edits; e++) {
          const kind = int(6);
          if (kind === 0 && b.length > 0) {
            const pos = int(b.length);
            b[pos] = at(b, pos) ^ (1 << int(8));
          } else if (kind === 1 && b.length > 0) b[int(b.length)] = int(256);
          else if (kind === 2) b = b.subarray(0, int(b.length + 1));
          else if (kind === 3) {
            const at = int(b.length + 1);
            const junk = Buffer.from(Array.from({ length: 1 + int(8) }, () => int(256)));
            b = Buffer.concat([b.subarray(0, at), junk, b.subarray(at)]);
          } else if (kind === 4 && b.length > 1)
            b[1] = int(256); // the Remaining Length
          else if (kind === 5 && b.length > 0) b[0] = (int(16) << 4) | (at(b, 0) & 0x0f);
        }
        return b;
      };
      const randomBytes = () => Buffer.from(Array.from({ length: 1 + int(120) }, () => int(256)));

      const one = async (): Promise<void> => {
        const v = rand() < 0.5 ? 4 : 5;
        const raw = await RawMqtt.open(h.mqttPort, v);
        const scenario = int(4);
        const chunks: Buffer[] = [];
        if (scenario === 0) chunks.push(randomBytes());
        else if (scenario === 1) chunks.push(mutate(encode(connectPacket(v, { keepalive: 1 + int(5) }), v)));
        else {
          chunks.push(
            encode(
              connectPacket(v, {
                will:
                  rand() < 0.3
                    ? { topic: 'f/will', payload: Buffer.from('w'), qos: 1, retain: false }
                    : undefined,
              }),
              v,
            ),
          );
          const corp = corpora[v];
          for (let i = 0, n = 1 + int(6); i < n; i++) {
            const packet = at(corp, int(corp.length));
            chunks.push(rand() < 0.7 ? mutate(packet) : packet);
          }
          if (scenario === 3) chunks.push(randomBytes());
        }
        // Sometimes all at once, sometimes byte runs of random size.
        const all = Buffer.concat(chunks);
        if (rand() < 0.5) raw.write(all);
        else {
          for (let at = 0; at < all.length; ) {
            const n = 1 + int(16);
            raw.write(all.subarray(at, at + n));
            at += n;
          }
        }
        await Promise.race([raw.closed, sleep(60)]);
        raw.destroy();
      };
      const errorsBefore = await metric(h, 'pulse_mqtt_parse_errors_total');
      const total = Number(process.env.PULSE_FUZZ_CONNECTIONS ?? 400);
      for (let started = 0; started < total; started += 25) {
        await Promise.all(Array.from({ length: 25 }, () => one()));
      }
      feeding = false;
      await feed;

      // The bystander lost nothing, in order; a new client works; the counters moved.
      const got = await bystander.inbox.waitFor(sent);
      assert.deepEqual(
        got.map((m) => Number(m.payload.toString())),
        Array.from({ length: sent }, (_, i) => i),
        `seed ${seed}`,
      );
      assert.ok(sent >= 10, `the feeder kept publishing (${sent})`);
      assert.equal(bystander.connected, true);
      assert.equal(feeder.connected, true);
      assert.ok(
        (await metric(h, 'pulse_mqtt_parse_errors_total')) > errorsBefore + 50,
        'parse errors counted',
      );
      const fresh = await mqttClient(h.tcpUrl, { protocolVersion: 5 });
      await fresh.subscribeAsync('after/fuzz', { qos: 2 });
      await fresh.publishAsync('after/fuzz', 'still fine', { qos: 2 });
      assert.equal(at(await fresh.inbox.waitFor(1), 0).payload.toString(), 'still fine');
      const health = await fetch(`${h.httpUrl}/health`);
      assert.equal(health.status, 200);
      await sleep(100);
      assert.equal(await metric(h, 'pulse_mqtt_connections'), 3, 'every fuzz connection was cleaned up');
      await endAll(bystander, feeder, fresh);
    },
  );
});
