import { createRequire } from 'node:module';
import type { Packet, Parser } from 'mqtt-packet';
import { RecentName } from '../recent-name.js';
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

/** The parser's settings a decoder keeps between packets: what the CONNECT told it. */
interface ParserSettings {
  protocolVersion?: number;
  bridgeMode?: boolean;
}

/**
 * One mqtt-packet parser for every connection. A parser costs ~1.2 KiB of heap (an event
 * emitter, a BufferList duplex stream with its two stream states, a Packet) and keeps the
 * CONNECT packet as its settings, which an idle connection would hold for its lifetime.
 * Packets come whole (PacketSplitter), so between two of them the parser holds nothing but
 * those settings: each decoder gives its own before parsing, and a parser left holding bytes
 * is replaced rather than reused by the next connection.
 */
class SharedParser {
  private parser: Parser | undefined;
  result: Packet | undefined;
  error: Error | undefined;

  get internals(): ParserInternals {
    this.parser ??= this.newParser();
    return this.parser as unknown as ParserInternals;
  }

  parse(packet: Buffer, settings: ParserSettings): void {
    this.result = undefined;
    this.error = undefined;
    const internals = this.internals;
    internals.settings = settings;
    try {
      (this.parser as Parser).parse(packet);
    } catch (err) {
      this.error = err instanceof Error ? err : new Error(String(err));
    }
  }

  /**
   * The settings after a packet was read: the decoder's own, or the CONNECT packet itself,
   * which the parser would otherwise hold (password, will) until the next packet of anyone.
   */
  takeSettings(): ParserSettings {
    const internals = this.internals;
    const settings = internals.settings;
    internals.settings = DEFAULT_SETTINGS;
    return settings;
  }

  /** True when the parser holds no bytes of a packet (the next connection may use it). */
  get idle(): boolean {
    const internals = this.internals;
    return internals._stateCounter === 0 && internals._list.length === 0;
  }

  /** A new parser for the next packet; what the failed one read is let go too. */
  reset(): void {
    this.parser = undefined;
    this.result = undefined;
    this.error = undefined;
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
}

const DEFAULT_SETTINGS: ParserSettings = { protocolVersion: 4 };
const shared = new SharedParser();

/**
 * Parses whole MQTT control packets (from PacketSplitter), one decoder per connection: it
 * learns the protocol version from the CONNECT packet.
 *
 * The packets of a publication flow and PINGREQ take a fast path (decodeHotPacket) that reads
 * them straight from the bytes into what mqtt-packet would return; every other packet, and any
 * the fast path does not take, goes to mqtt-packet's parser (one for all decoders).
 */
export class MqttDecoder {
  /** What the parser needs to read this connection's packets: 3.1.1 until a CONNECT says otherwise. */
  private settings: ParserSettings = DEFAULT_SETTINGS;
  /** The protocol version packets are read in (3 and 4 read alike). */
  private version = 4;
  private readonly topics = new RecentName();

  constructor(private readonly userPropertyLimits: UserPropertyLimits = NO_USER_PROPERTY_LIMITS) {}

  /** Decodes one complete packet, or returns the parser's error. Never throws. */
  decode(packet: Buffer): Packet | Error {
    const hot = decodeHotPacket(packet, this.version, this.topics);
    if (hot !== undefined) return hot;
    return this.decodeWithParser(packet);
  }

  /** decode() without the fast path: mqtt-packet's parser alone (also for tests and measurements). */
  decodeWithParser(packet: Buffer): Packet | Error {
    const overLimit = scanProperties(packet, this.version, this.userPropertyLimits);
    if (overLimit !== undefined)
      return new MqttPacketError(overLimit.message, overLimit.reasonCode, overLimit);
    shared.parse(packet, this.settings);
    const error = shared.error;
    const parsed = shared.result;
    if (error || !parsed || !shared.idle) {
      const failed = shared.internals.packet;
      const level = failed.cmd === 'connect' ? failed.protocolVersion : undefined;
      shared.reset();
      // mqtt-packet fails on any level but 3, 4 and 5 after reading it (a bridge's less 128).
      if (level !== undefined && level !== 3 && level !== 4 && level !== 5) {
        return new UnknownProtocolLevel(level);
      }
      return error ?? new Error(parsed ? 'packet not read to its end' : 'incomplete packet');
    }
    this.learnSettings(shared.takeSettings());
    shared.result = undefined;
    // mqtt-packet reads a packet identifier cut to one byte as -1 instead of failing.
    const id = (parsed as { messageId?: number }).messageId;
    if (id !== undefined && (id < 0 || id > 0xffff)) return new Error('Cannot parse messageId');
    const problem =
      propertiesProblem((parsed as { properties?: Record<string, unknown> }).properties, parsed.cmd) ??
      (parsed.cmd === 'connect' ? propertiesProblem(parsed.will?.properties, 'will') : undefined);
    if (problem) return new MqttPacketError(problem[1], problem[0], parsed);
    return parsed;
  }

  /**
   * A CONNECT makes the parser's settings the packet itself: keep only what the parser reads
   * of it, not the packet (its will, password and properties) for the connection's lifetime.
   */
  private learnSettings(after: ParserSettings): void {
    if (after === this.settings) return;
    this.settings = { protocolVersion: after.protocolVersion, bridgeMode: after.bridgeMode };
    // mqtt-packet reads in version 5 only if told exactly 5, and in 3.1.1 otherwise.
    this.version = after.protocolVersion ?? 4;
  }
}

export function encodePacket(packet: Packet, version: MqttVersion): Buffer {
  return mqttPacket().generate(packet, { protocolVersion: version });
}
