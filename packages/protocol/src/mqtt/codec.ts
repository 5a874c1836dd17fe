import { createRequire } from 'node:module';
import type { Packet, Parser } from 'mqtt-packet';
import { decodeHotPacket } from './hot-packets.js';
import { type UserPropertyLimits, scanProperties } from './property-scan.js';

const NO_USER_PROPERTY_LIMITS: UserPropertyLimits = {
  maxCount: Number.POSITIVE_INFINITY,
  maxBytes: Number.POSITIVE_INFINITY,
};

type MqttPacketModule = typeof import('mqtt-packet');

/**
 * mqtt-packet (and its stream dependencies) is loaded on first use: a server whose clients
 * never speak MQTT should not carry it (it grows the heap that every idle connection's
 * share of RSS is measured against).
 */
let loaded: MqttPacketModule | undefined;
function mqttPacket(): MqttPacketModule {
  loaded ??= createRequire(import.meta.url)('mqtt-packet') as MqttPacketModule;
  return loaded;
}

export type { Packet } from 'mqtt-packet';
export type MqttVersion = 3 | 4 | 5;

/** What a refusal needs to know of the offending packet, parsed or not. */
export interface PacketHeader {
  cmd: string;
  protocolVersion?: number;
  qos?: number;
  messageId?: number;
}

/**
 * A packet that breaks the rules for properties (MQTT 5 §2.2.2.2), or whose user properties are
 * over a limit (found before parsing it).
 */
export class MqttPacketError extends Error {
  constructor(
    message: string,
    /** 0x81 Malformed Packet, 0x82 Protocol Error or 0x97 Quota exceeded. */
    readonly reasonCode: number,
    /** The offending packet, so that a CONNECT can still be answered in its version and a PUBLISH acknowledged. */
    readonly packet: PacketHeader,
  ) {
    super(message);
  }
}

/**
 * A CONNECT whose protocol level is not 3, 4 or 5: answered with CONNACK 0x01 in the 3.1.1
 * format (MQTT 5 §3.1.2.2), whatever level it asked for.
 */
export class UnknownProtocolLevel extends Error {
  constructor(readonly level: number) {
    super(`Invalid protocol version ${level}`);
  }
}

/**
 * mqtt-packet turns a property it could not read into null, undefined or -1, and a property
 * given twice into an array; both would travel on to subscribers. Returns what is wrong.
 */
function propertiesProblem(
  props: Record<string, unknown> | undefined,
  cmd: string,
): [number, string] | undefined {
  if (!props) return undefined;
  for (const [name, value] of Object.entries(props)) {
    if (name === 'userProperties') {
      for (const v of Object.values(value as Record<string, unknown>)) {
        if (!(Array.isArray(v) ? v : [v]).every((x) => typeof x === 'string')) {
          return [0x81, 'unreadable user property'];
        }
      }
      continue;
    }
    // Only a server-to-client PUBLISH may carry several subscription identifiers.
    if (Array.isArray(value) && !(name === 'subscriptionIdentifier' && cmd === 'publish')) {
      return [0x82, `property ${name} given more than once`];
    }
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v === null || v === undefined || v === -1 || v === false || Number.isNaN(v)) {
        if (v === false && name !== 'subscriptionIdentifier') continue; // a boolean property
        return [0x81, `unreadable property ${name}`];
      }
    }
  }
  return undefined;
}

/** What MqttDecoder reads of mqtt-packet's parser besides its public interface. */
interface ParserInternals {
  /** The options, then the CONNECT packet: the version the packets that follow are read in. */
  settings: { protocolVersion?: number };
  /** 0 between packets; more while a packet's header was read but not its body. */
  _stateCounter: number;
  /** Bytes given to the parser and not yet consumed by a packet. */
  _list: { length: number };
  /** The packet being read: after a failed CONNECT, the fields read before the failure. */
  packet: { cmd?: string; protocolVersion?: number };
}

/**
 * Parses whole MQTT control packets (from PacketSplitter), one decoder per connection: the
 * parser learns the protocol version from the CONNECT packet.
 *
 * The packets of a publication flow and PINGREQ take a fast path (decodeHotPacket) that reads
 * them straight from the bytes into what mqtt-packet would return; every other packet, and any
 * the fast path does not take, goes to mqtt-packet's parser.
 */
export class MqttDecoder {
  private parser: Parser;
  private result: Packet | undefined;
  private error: Error | undefined;
  /** The protocol version the parser reads packets in (3 and 4 read alike). */
  private version = 4;
  /**
   * The parser holds nothing of an earlier buffer (it always does when given whole packets):
   * a packet the fast path reads is then one the parser would have read the same way.
   */
  private parserIdle = true;

  constructor(private readonly userPropertyLimits: UserPropertyLimits = NO_USER_PROPERTY_LIMITS) {
    this.parser = this.newParser();
  }

  private newParser(): Parser {
    const parser = mqttPacket().parser({ protocolVersion: 4 });
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
    if (this.parserIdle) {
      const hot = decodeHotPacket(packet, this.version);
      if (hot !== undefined) return hot;
    }
    return this.decodeWithParser(packet);
  }

  /** decode() without the fast path: mqtt-packet's parser alone (also for tests and measurements). */
  decodeWithParser(packet: Buffer): Packet | Error {
    const overLimit = scanProperties(packet, this.version, this.userPropertyLimits);
    if (overLimit !== undefined)
      return new MqttPacketError(overLimit.message, overLimit.reasonCode, overLimit);
    this.result = undefined;
    this.error = undefined;
    try {
      this.parser.parse(packet);
    } catch (err) {
      this.error = err instanceof Error ? err : new Error(String(err));
    }
    if (this.error || !this.result) {
      const failed = (this.parser as unknown as ParserInternals).packet;
      const level = failed.cmd === 'connect' ? failed.protocolVersion : undefined;
      // mqtt-packet fails on any level but 3, 4 and 5 after reading it (a bridge's less 128).
      if (level !== undefined && level !== 3 && level !== 4 && level !== 5) {
        this.error = new UnknownProtocolLevel(level);
      }
      const settings = (this.parser as unknown as ParserInternals).settings;
      this.parser = this.newParser();
      (this.parser as unknown as ParserInternals).settings = settings;
      this.syncWithParser();
      return this.error ?? new Error('incomplete packet');
    }
    this.syncWithParser();
    const parsed = this.result as Packet;
    // mqtt-packet reads a packet identifier cut to one byte as -1 instead of failing.
    const id = (parsed as { messageId?: number }).messageId;
    if (id !== undefined && (id < 0 || id > 0xffff)) return new Error('Cannot parse messageId');
    const problem =
      propertiesProblem((parsed as { properties?: Record<string, unknown> }).properties, parsed.cmd) ??
      (parsed.cmd === 'connect' ? propertiesProblem(parsed.will?.properties, 'will') : undefined);
    if (problem) return new MqttPacketError(problem[1], problem[0], parsed);
    return parsed;
  }

  /** After the parser ran: the version it now reads in, and whether the fast path may be taken. */
  private syncWithParser(): void {
    const parser = this.parser as unknown as ParserInternals;
    // mqtt-packet reads in version 5 only if told exactly 5, and in 3.1.1 otherwise.
    const version = parser.settings.protocolVersion ?? 4;
    this.version = version;
    this.parserIdle = typeof version === 'number' && parser._stateCounter === 0 && parser._list.length === 0;
  }
}

export function encodePacket(packet: Packet, version: MqttVersion): Buffer {
  return mqttPacket().generate(packet, { protocolVersion: version });
}
