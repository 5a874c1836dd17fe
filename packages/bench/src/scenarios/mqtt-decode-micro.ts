import { MqttDecoder, type MqttVersion, type Packet, decodeHotPacket, encodePacket } from '@pulse/protocol';
import mqttPacket from 'mqtt-packet';
import { timeOp } from './micro-timing.js';

/** One MQTT packet decoded three ways: ns per packet. */
export interface MqttDecodeTiming {
  packet: string;
  version: MqttVersion;
  bytes: number;
  /** `MqttDecoder.decode`, as the server calls it: the hot decoder takes this packet. */
  hotNs: number;
  /** `MqttDecoder.decodeWithParser`: the same decoder without its fast path. */
  decoderParserNs: number;
  /** mqtt-packet's own parser, nothing of ours around it. */
  mqttPacketNs: number;
}

const PAYLOAD = Buffer.alloc(64, 0x61);

const PACKETS: readonly { name: string; packet: Packet }[] = [
  {
    name: 'PUBLISH QoS 0, 64 B',
    packet: { cmd: 'publish', topic: 'bench/micro', payload: PAYLOAD, qos: 0, retain: false, dup: false },
  },
  {
    name: 'PUBLISH QoS 1, 64 B',
    packet: {
      cmd: 'publish',
      topic: 'bench/micro',
      payload: PAYLOAD,
      qos: 1,
      messageId: 42,
      retain: false,
      dup: false,
    },
  },
  { name: 'PUBACK', packet: { cmd: 'puback', messageId: 42 } },
];

/** A decoder that has read a CONNECT of `version`, as a server's has before any PUBLISH. */
function connectedDecoder(version: MqttVersion): MqttDecoder {
  const decoder = new MqttDecoder();
  const connect = encodePacket(
    {
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: version,
      clientId: 'bench',
      clean: true,
      keepalive: 0,
    },
    version,
  );
  const decoded = decoder.decode(connect);
  if (decoded instanceof Error || decoded.cmd !== 'connect')
    throw new Error(`CONNECT v${version} does not decode`);
  return decoder;
}

/** mqtt-packet's parser fed one whole packet at a time; returns what it emitted. */
function bareParser(version: MqttVersion): (bytes: Buffer) => Packet | undefined {
  const parser = mqttPacket.parser({ protocolVersion: version });
  let last: Packet | undefined;
  parser.on('packet', (p) => {
    last = p;
  });
  parser.on('error', (err) => {
    throw err;
  });
  return (bytes) => {
    last = undefined;
    parser.parse(bytes);
    return last;
  };
}

/**
 * MQTT decode micro-benchmarks: the hot decoder (packages/protocol/src/mqtt/hot-packets.ts, by
 * way of MqttDecoder.decode) against mqtt-packet's parser, for the packets of a publication flow.
 */
export function runMqttDecodeMicro(o: { warmupMs: number; measureMs: number }): MqttDecodeTiming[] {
  const rows: MqttDecodeTiming[] = [];
  for (const version of [4, 5] as const) {
    for (const { name, packet } of PACKETS) {
      const bytes = encodePacket(packet, version);
      const decoder = connectedDecoder(version);
      const parse = bareParser(version);
      const hot = decoder.decode(bytes);
      const viaParser = decoder.decodeWithParser(bytes);
      const bare = parse(bytes);
      if (decodeHotPacket(bytes, version) === undefined)
        throw new Error(`${name} v${version}: not a hot packet`);
      for (const got of [hot, viaParser, bare]) {
        if (got === undefined || got instanceof Error || got.cmd !== packet.cmd) {
          throw new Error(`${name} v${version} does not round-trip: ${String(got)}`);
        }
      }
      rows.push({
        packet: name,
        version,
        bytes: bytes.length,
        hotNs: timeOp(() => decoder.decode(bytes), o.warmupMs, o.measureMs),
        decoderParserNs: timeOp(() => decoder.decodeWithParser(bytes), o.warmupMs, o.measureMs),
        mqttPacketNs: timeOp(() => parse(bytes), o.warmupMs, o.measureMs),
      });
    }
  }
  return rows;
}
