import { sleep } from '../helpers.js';
import type { MqttVersion } from '../mqtt-helpers.js';
import type { Attacker, Opener } from './attack-run.js';
import { connectionAfterConnection } from './attack-loop.js';
import { mqttConnect, mqttInput } from './mqtt-inputs.js';
import { declaredPacket, deepTopic, mqttString, rawPacket } from './mqtt-raw.js';
import { attackerToken } from './pulse-target.js';
import { connectPacket, encode } from '../mqtt-helpers.js';

/** Connection after connection: mostly a valid CONNECT as the confined user, then hostile packets. */
export async function mqttAttacker(a: Attacker, open: Opener): Promise<void> {
  const password = await attackerToken();
  await connectionAfterConnection(
    a,
    open,
    'mqtt',
    async (s, n) => {
      const version = a.rng.pick([3, 4, 5, 5] as MqttVersion[]);
      if (a.rng.bool(0.85)) {
        const connect = mqttConnect(a.rng, version, password, `mallory-${a.worker}-${n}`);
        await s.send(connect.what, connect.bytes);
      }
      return (rng) => mqttInput(rng, version);
    },
    { burst: [1, 25], keep: 8 },
  );
}

/**
 * A persistent session subscribed to `attack/q/#` at QoS 1 goes away; another connection then
 * publishes nearly-1 MiB QoS 1 messages there (up to 300 MiB): what the server queues for an
 * absent session must be bounded in bytes, not only in messages.
 */
export async function offlineQueueHoarder(a: Attacker, open: Opener): Promise<void> {
  const password = Buffer.from(await attackerToken());
  const sub = await open(a, `queue-sub#${a.worker}`);
  const clientId = `mallory-queue-${a.worker}`;
  await sub.send(
    'CONNECT v5, session expiry 1 h',
    encode(
      connectPacket(5, {
        clientId,
        username: 'mallory',
        password,
        clean: true,
        properties: { sessionExpiryInterval: 3600 },
      }),
      5,
    ),
  );
  await sub.send(
    'SUBSCRIBE attack/q/# QoS 1',
    encode({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'attack/q/#', qos: 1 }] }, 5),
  );
  await sleep(200);
  await sub.send('DISCONNECT', Buffer.from([0xe0, 0]));
  sub.end();
  const pub = await open(a, `queue-pub#${a.worker}`);
  await pub.send('CONNECT v4', encode(connectPacket(4, { username: 'mallory', password }), 4));
  const payload = a.rng.bytes(1024 * 1024 - 200);
  for (let i = 0; i < 300 && a.active() && !pub.closed; i++) {
    const topic = mqttString(`attack/q/${i}`);
    const id = Buffer.from([(i + 1) >> 8, (i + 1) & 0xff]);
    await pub.send(
      `PUBLISH QoS 1 attack/q/${i}, 1 MiB`,
      rawPacket(0x32, Buffer.concat([topic, id, payload])),
      2000,
    );
    await sleep(12);
  }
  pub.destroy();
}

/** A few connections that announce a 1 MiB PUBLISH and send it a byte per write. */
export async function mqttDribbler(a: Attacker, open: Opener): Promise<void> {
  const password = Buffer.from(await attackerToken());
  await Promise.all(
    [0, 1, 2].map(async (k) => {
      const s = await open(a, `mqtt-dribbler#${a.worker}.${k}`);
      const connect = encode(connectPacket(4, { username: 'mallory', password }), 4);
      // One dribbles its CONNECT: the handshake deadline must cut it off.
      const start =
        k === 0
          ? connect
          : Buffer.concat([
              connect,
              declaredPacket(0x30, 1024 * 1024 - 16, mqttString('attack/d')),
              a.rng.bytes(64 * 1024),
            ]);
      await s.dribble(
        k === 0 ? 'CONNECT' : '1 MiB PUBLISH',
        start,
        1024 * 1024 + connect.length,
        2,
        a.deadline,
      );
      s.destroy();
    }),
  );
}

/**
 * A subscription 5,000 levels deep inside the attacker's subtree stays, while other
 * connections publish to topics as deep and leave wills on them: every walk of the topic
 * tree, in the publish path and in the close path, meets that depth.
 */
export async function deepTopicAttacker(a: Attacker, open: Opener): Promise<void> {
  const password = Buffer.from(await attackerToken());
  const deep = `attack/${deepTopic(4999, '+')}`;
  const topic = `attack/${deepTopic(4999, 'd')}`;
  const holder = await open(a, `deep-sub#${a.worker}`);
  await holder.send('CONNECT v5', encode(connectPacket(5, { username: 'mallory', password }), 5));
  await holder.send(
    'SUBSCRIBE 5,000 levels',
    encode({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: deep, qos: 0 }] }, 5),
  );
  for (let n = 0; a.active(); n++) {
    const s = await open(a, `deep-will#${a.worker}.${n}`).catch(() => undefined);
    if (!s) {
      await sleep(20);
      continue;
    }
    const version = a.rng.pick([4, 5] as const);
    const will = { topic, payload: Buffer.from('w'), qos: 0 as const, retain: false };
    await s.send(
      'CONNECT with a will 5,000 levels deep',
      encode(connectPacket(version, { username: 'mallory', password, will }), version),
    );
    await s.send(
      'PUBLISH 5,000 levels deep',
      encode(
        { cmd: 'publish', topic, payload: Buffer.from('p'), qos: 0, retain: false, dup: false },
        version,
      ),
    );
    await sleep(a.rng.range(20, 100));
    s.destroy();
  }
  holder.destroy();
}
