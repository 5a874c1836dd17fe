import mqttPacket, { type Packet, type Parser } from 'mqtt-packet';

export type { Packet } from 'mqtt-packet';
export type MqttVersion = 3 | 4 | 5;

/**
 * Parses whole MQTT control packets (from PacketSplitter) with mqtt-packet, one decoder per
 * connection: the parser learns the protocol version from the CONNECT packet.
 */
export class MqttDecoder {
  private parser: Parser;
  private result: Packet | undefined;
  private error: Error | undefined;

  constructor() {
    this.parser = this.newParser();
  }

  private newParser(): Parser {
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (packet) => {
      this.result = packet;
    });
    parser.on('error', (err: Error) => {
      this.error = err;
    });
    return parser;
  }

  /** Decodes one complete packet, or returns the parser's error. Never throws. */
  decode(packet: Buffer): Packet | Error {
    this.result = undefined;
    this.error = undefined;
    try {
      this.parser.parse(packet);
    } catch (err) {
      this.error = err instanceof Error ? err : new Error(String(err));
    }
    if (this.error || !this.result) {
      const settings = (this.parser as unknown as { settings: object }).settings;
      this.parser = this.newParser();
      (this.parser as unknown as { settings: object }).settings = settings;
      return this.error ?? new Error('incomplete packet');
    }
    return this.result;
  }
}

export function encodePacket(packet: Packet, version: MqttVersion): Buffer {
  return mqttPacket.generate(packet, { protocolVersion: version });
}
