import type { Packet } from 'mqtt-packet';
import { type MqttVersion, connectPacket, encode } from '../mqtt-helpers.js';
import type { Rng } from './fuzz-settings.js';
import { mutate } from './hostile-msgpack.js';
import {
  MAX_REMAINING_LENGTH,
  PacketType,
  declaredPacket,
  deepTopic,
  mqttString,
  publishV5,
  rawPacket,
  userProperties,
  userPropertyBytes,
  varint,
} from './mqtt-raw.js';
import type { Input } from './native-inputs.js';

/** MQTT packets as a hostile client sends them after (or instead of) a valid CONNECT. */

/** mqtt-packet refuses some packets outright; those become random bytes of the same size. */
function encoded(rng: Rng, packet: Packet, version: MqttVersion): Buffer {
  try {
    return encode(packet, version);
  } catch {
    return rng.bytes(32);
  }
}

/** A topic or filter: mostly the attacker's own subtree, deep ones, others' and `$` ones now and then. */
function topic(rng: Rng, filter: boolean): string {
  switch (rng.int(10)) {
    case 0:
      // 5,000 levels, inside the attacker's subtree (as an ACL allows) or from the root.
      if (!filter) return `attack/${deepTopic(5000)}`;
      return rng.bool() ? `attack/${deepTopic(5000, '+')}` : deepTopic(5000, '+');
    case 1:
      return `attack/${deepTopic(rng.pick([100, 1000]), filter ? '+' : 'b')}`;
    case 2:
      return rng.pick([
        'bystander/mqtt',
        '#',
        '$SYS/broker/x',
        '$share/g/bystander/#',
        '+/+',
        `$share/g${rng.int(1000)}/attack/#`,
      ]);
    case 3:
      return rng.string(rng.range(0, 30));
    default:
      return `attack/${rng.pick(['m', 'n', 'q/x'])}${rng.int(8)}${filter && rng.bool() ? '/#' : ''}`;
  }
}

/** Properties mqtt-packet writes; the costly user-property lists are written raw (userPropertyInput). */
function properties(rng: Rng): Record<string, unknown> | undefined {
  switch (rng.int(4)) {
    case 0:
      return {
        topicAlias: rng.range(0, 70_000),
        messageExpiryInterval: rng.u32(),
        payloadFormatIndicator: true,
      };
    case 1:
      return {
        subscriptionIdentifier: rng.range(0, 268_435_455),
        correlationData: rng.bytes(rng.range(0, 1000)),
      };
    default:
      return undefined;
  }
}

/** The same few user-property lists again and again: building 20,000 of them per input would load the attacker, not the server. */
const USER_PROPERTIES = new Map<string, Buffer>();
function userPropertyList(count: number, valueBytes: number): Buffer {
  const key = `${count}x${valueBytes}`;
  const list = USER_PROPERTIES.get(key) ?? userPropertyBytes(count, valueBytes);
  USER_PROPERTIES.set(key, list);
  return list;
}

/** An MQTT 5 PUBLISH with many user properties, or a few large ones. */
function userPropertyInput(rng: Rng): Input {
  const [count, valueBytes] = rng.pick([
    [100, 1],
    [2000, 1],
    [20_000, 1],
    [10, 60_000],
  ]);
  return {
    what: `PUBLISH with ${count} user properties`,
    bytes: publishV5(
      `attack/u${rng.int(4)}`,
      rng.bytes(16),
      userPropertyList(count, valueBytes),
      rng.pick([0, 1] as const),
      rng.range(1, 65535),
    ),
  };
}

/** A CONNECT as user `mallory` with the attacker's token, now and then with a will on a deep topic. */
export function mqttConnect(rng: Rng, version: MqttVersion, password: string, clientId: string): Input {
  const will = rng.bool(0.3)
    ? {
        topic: topic(rng, false),
        payload: rng.bytes(rng.range(0, 64)),
        qos: rng.pick([0, 1] as const),
        retain: false,
      }
    : undefined;
  const packet = connectPacket(version, {
    clientId,
    username: 'mallory',
    password: Buffer.from(password),
    keepalive: rng.pick([0, 1, 60]),
    ...(will ? { will } : {}),
    ...(version === 5 && rng.bool(0.3)
      ? {
          properties: {
            userProperties: userProperties(rng.pick([10, 5000])),
            receiveMaximum: rng.range(1, 65535),
          },
        }
      : {}),
  });
  return {
    what: `CONNECT v${version}${will ? ` will on ${will.topic.slice(0, 30)}` : ''}`,
    bytes: encoded(rng, packet, version),
  };
}

export function mqttInput(rng: Rng, version: MqttVersion): Input {
  const messageId = rng.range(1, 65535);
  switch (rng.int(13)) {
    case 12:
      return version === 5 ? userPropertyInput(rng) : mqttInput(rng, version);
    case 0:
    case 1: {
      const qos = rng.pick([0, 1, 2] as const);
      const packet = {
        cmd: 'publish',
        topic: topic(rng, false),
        payload: rng.bytes(rng.range(0, 512)),
        qos,
        retain: rng.bool(0.2),
        dup: false,
        ...(qos ? { messageId } : {}),
        ...(version === 5 ? { properties: properties(rng) } : {}),
      } as Packet;
      return { what: 'PUBLISH', bytes: encoded(rng, packet, version) };
    }
    case 2:
    case 3: {
      const filters = Array.from({ length: rng.pick([1, 1, 3, 500]) }, () => ({
        topic: topic(rng, true),
        qos: rng.pick([0, 1, 2] as const),
      }));
      const packet = {
        cmd: 'subscribe',
        messageId,
        subscriptions: filters,
        ...(version === 5 ? { properties: properties(rng) } : {}),
      } as Packet;
      return { what: `SUBSCRIBE ${filters.length} filters`, bytes: encoded(rng, packet, version) };
    }
    case 4:
      return {
        what: 'UNSUBSCRIBE',
        bytes: encoded(
          rng,
          { cmd: 'unsubscribe', messageId, unsubscriptions: [topic(rng, true)] } as Packet,
          version,
        ),
      };
    case 5:
      return {
        what: 'acks for nothing',
        bytes: encoded(
          rng,
          { cmd: rng.pick(['puback', 'pubrec', 'pubrel', 'pubcomp'] as const), messageId } as Packet,
          version,
        ),
      };
    case 6: {
      // A remaining length at or near MQTT's maximum, with a few bytes behind it.
      const type = rng.pick(Object.values(PacketType));
      const remaining = rng.pick([
        MAX_REMAINING_LENGTH,
        MAX_REMAINING_LENGTH - 1,
        1024 * 1024 + 1,
        1024 * 1024 - 1,
      ]);
      return {
        what: `packet type ${type} declaring ${remaining} bytes`,
        bytes: declaredPacket(
          (type << 4) | (type === 8 || type === 10 || type === 6 ? 2 : 0),
          remaining,
          rng.bytes(rng.range(0, 32)),
        ),
      };
    }
    case 7:
      // A fifth length byte: a varint MQTT does not allow.
      return {
        what: 'five-byte remaining length',
        bytes: Buffer.concat([
          Buffer.from([0x30]),
          Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7f]),
          rng.bytes(8),
        ]),
      };
    case 8:
      return { what: 'mutated', bytes: mutate(rng, mqttInput(rng, version).bytes) };
    case 9:
      // Property lengths that claim more than the packet holds.
      return {
        what: 'PUBLISH with a property length past the end',
        bytes: rawPacket(
          0x30,
          Buffer.concat([
            mqttString('attack/p'),
            varint(rng.pick([MAX_REMAINING_LENGTH, 1000, 5])),
            rng.bytes(4),
          ]),
        ),
      };
    case 10:
      return {
        what: 'reserved packet',
        bytes: rawPacket(
          rng.pick([0x00, 0xf0, 0x20, 0x90, 0xb0, 0xd0, 0x31, 0x36]),
          rng.bytes(rng.range(0, 16)),
        ),
      };
    default:
      return {
        what: 'PINGREQ/DISCONNECT/AUTH',
        bytes: rng.pick([
          Buffer.from([0xc0, 0]),
          Buffer.from([0xe0, 0x02, rng.u32() & 0xff, 0]),
          Buffer.from([0xf0, 0x02, 0x18, 0]),
        ]),
      };
  }
}
