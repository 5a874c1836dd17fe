import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import mqttPacket, { type Packet } from 'mqtt-packet';
import type { Tally } from '../src/generator/dialect.js';
import { type MqttClient, connectMqtt } from '../src/generator/mqtt-client.js';
import { MqttPublishLoop } from '../src/generator/mqtt-loop.js';
import type { Qos } from '../src/generator/mqtt-packets.js';

const gen = (p: Packet): Buffer => mqttPacket.generate(p, { protocolVersion: 4 });
const until = async (what: string, ok: () => boolean): Promise<void> => {
  const deadline = Date.now() + 5000;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

/**
 * A toy broker: CONNACK, SUBACK, PUBACK / PUBREC + PUBCOMP for the publisher, and every PUBLISH
 * relayed at QoS 0 to every subscriber. It records what each client sent, and the test can push
 * raw bytes to a subscriber.
 */
describe('MqttClient and MqttPublishLoop against a toy broker', () => {
  let server: net.Server;
  let port: number;
  const subscribers: net.Socket[] = [];
  const received = new Map<net.Socket, Packet[]>();

  before(async () => {
    server = net.createServer((socket) => {
      const parser = mqttPacket.parser({ protocolVersion: 4 });
      const mine: Packet[] = [];
      received.set(socket, mine);
      parser.on('packet', (p: Packet) => {
        mine.push(p);
        switch (p.cmd) {
          case 'connect':
            return socket.write(gen({ cmd: 'connack', returnCode: 0, sessionPresent: false }));
          case 'subscribe':
            subscribers.push(socket);
            return socket.write(
              gen({ cmd: 'suback', messageId: p.messageId, granted: p.subscriptions.map((s) => s.qos) }),
            );
          case 'publish': {
            if (p.qos === 1) socket.write(gen({ cmd: 'puback', messageId: p.messageId }));
            if (p.qos === 2) socket.write(gen({ cmd: 'pubrec', messageId: p.messageId }));
            const relay = gen({ ...p, qos: 0, messageId: undefined, dup: false });
            for (const s of subscribers) s.write(relay);
            return;
          }
          case 'pubrel':
            return socket.write(gen({ cmd: 'pubcomp', messageId: p.messageId }));
        }
      });
      socket.on('data', (d) => parser.parse(d));
      socket.on('error', () => {});
      socket.on('close', () => subscribers.splice(subscribers.indexOf(socket) >>> 0, 1));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  after(() => {
    for (const s of received.keys()) s.destroy();
    server.close();
  });

  const open = (
    role: 'subscriber' | 'publisher',
    topic: string,
    qos: Qos,
    tally: Tally,
  ): Promise<MqttClient> =>
    connectMqtt({
      host: '127.0.0.1',
      port,
      clientId: `t-${role}-${topic}`,
      role,
      topic,
      qos,
      tally,
      samples: null,
    });

  it('acknowledges QoS 1 and 2 deliveries, and counts a QoS 2 resend once', async () => {
    const tally: Tally = { delivered: 0, closed: 0 };
    const sub = await open('subscriber', 'acks', 2, tally);
    const socket = subscribers.at(-1)!;
    const body = Buffer.from('hello');
    const pub = (qos: Qos, messageId?: number, dup = false): Buffer =>
      gen({ cmd: 'publish', topic: 'acks', payload: body, qos, messageId, retain: false, dup });
    // All in one write: the client must split them and answer each.
    socket.write(
      Buffer.concat([
        pub(1, 7),
        pub(2, 9),
        pub(2, 9, true),
        gen({ cmd: 'pubrel', messageId: 9 }),
        pub(0),
        gen({ cmd: 'pubrel', messageId: 99 }),
      ]),
    );
    const sent = received.get(socket)!;
    await until('four acknowledgements', () => sent.length >= 7);
    assert.deepEqual(
      sent.slice(2).map((p) => [p.cmd, p.messageId]),
      [
        ['puback', 7],
        ['pubrec', 9],
        ['pubrec', 9],
        ['pubcomp', 9],
        ['pubcomp', 99],
      ],
    );
    assert.equal(sub.count, 3);
    assert.equal(tally.delivered, 3);
    // The resend of unreleased id 9, and the PUBREL of an id never received.
    assert.equal(sub.anomalies, 2);
    sub.close();
  });

  for (const qos of [0, 1, 2] as const) {
    it(`keeps a QoS ${qos} window, completes every handshake and sees every publication`, async () => {
      const tally: Tally = { delivered: 0, closed: 0 };
      const topic = `loop${qos}`;
      const sub = await open('subscriber', topic, 0, tally);
      const pubClient = await open('publisher', topic, 0, tally);
      const loop = new MqttPublishLoop(pubClient, sub, 64, qos, { kind: 'window', window: 8 });
      loop.start();
      await until('300 deliveries', () => sub.count >= 300);
      loop.stop();
      const sent = loop.sent;
      await until('every delivery', () => sub.count === sent);
      if (qos > 0) await until('every acknowledgement', () => loop.acked === sent);
      assert.equal(pubClient.anomalies, 0);
      assert.equal(loop.stalls, 0);
      const broker = [...received.entries()].find(([, ps]) =>
        ps.some((p) => p.cmd === 'connect' && p.clientId === `t-publisher-${topic}`),
      )![1];
      const publishes = broker.filter((p) => p.cmd === 'publish');
      assert.equal(publishes.length, sent);
      assert.ok(publishes.every((p) => p.cmd === 'publish' && p.qos === qos && p.payload.length === 64));
      if (qos > 0) {
        const ids = publishes.map((p) => p.messageId);
        assert.deepEqual(ids.slice(0, 3), [1, 2, 3]);
      }
      if (qos === 2) {
        const released = broker.filter((p) => p.cmd === 'pubrel').map((p) => p.messageId);
        assert.deepEqual(
          released,
          publishes.map((p) => p.messageId),
        );
      }
      sub.close();
      pubClient.close();
    });
  }
});
