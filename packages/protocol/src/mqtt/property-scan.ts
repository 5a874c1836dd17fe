/** Bounds on the user properties of one packet (`mqtt.max_user_properties`, `mqtt.max_user_property_bytes`). */
export interface UserPropertyLimits {
  maxCount: number;
  /** Bytes of names and values together, over the whole packet. */
  maxBytes: number;
}

/** What the scan found wrong, with what the refusal needs of a packet that was not parsed. */
export interface PropertyScanProblem {
  /** 0x97 Quota exceeded (user properties over a limit) or 0x82 Protocol Error (a repeated property). */
  reasonCode: number;
  message: string;
  cmd: string;
  /** The protocol level a CONNECT asks for (bridge bit cleared). */
  protocolVersion?: number;
  qos?: number;
  messageId?: number;
}

const USER_PROPERTY = 0x26;

/** Value sizes of MQTT 5 properties (§2.2.2.2): fixed bytes, or -1 string/binary, -2 string pair, -3 varint. */
const VALUE_SIZE = new Int8Array(256).fill(0);
for (const id of [0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2a]) VALUE_SIZE[id] = 1;
for (const id of [0x13, 0x21, 0x22, 0x23]) VALUE_SIZE[id] = 2;
for (const id of [0x02, 0x11, 0x18, 0x27]) VALUE_SIZE[id] = 4;
for (const id of [0x03, 0x08, 0x09, 0x12, 0x15, 0x16, 0x1a, 0x1c, 0x1f]) VALUE_SIZE[id] = -1;
VALUE_SIZE[USER_PROPERTY] = -2;
VALUE_SIZE[0x0b] = -3;

/** Which properties the section being scanned has given (scans are synchronous: one table serves all). */
const seen = new Uint8Array(256);

const COMMANDS = [
  '',
  'connect',
  'connack',
  'publish',
  'puback',
  'pubrec',
  'pubrel',
  'pubcomp',
  'subscribe',
  'suback',
  'unsubscribe',
  'unsuback',
  'pingreq',
  'pingresp',
  'disconnect',
  'auth',
];

/** Reads the bytes of an MQTT 5 packet without building anything; stops at the first problem. */
class Scan {
  userCount = 0;
  userBytes = 0;
  /** Set when the bytes are not what they should be: mqtt-packet, which parses next, reports it. */
  broken = false;
  problem: PropertyScanProblem | undefined;

  constructor(
    readonly bytes: Buffer,
    public pos: number,
    readonly end: number,
    private readonly limits: UserPropertyLimits,
    readonly header: PropertyScanProblem,
  ) {}

  has(n: number): boolean {
    if (this.pos + n <= this.end) return true;
    this.broken = true;
    return false;
  }

  u16(): number {
    if (!this.has(2)) return 0;
    const value = this.bytes.readUInt16BE(this.pos);
    this.pos += 2;
    return value;
  }

  varint(): number {
    let value = 0;
    for (let i = 0, multiplier = 1; i < 4; i++, multiplier *= 128) {
      if (!this.has(1)) return 0;
      const byte = this.bytes[this.pos++] as number; // has(1): pos < end <= bytes.length
      value += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) return value;
    }
    this.broken = true;
    return 0;
  }

  /** Skips a length-prefixed string or binary value; returns its length. */
  skipPrefixed(): number {
    const length = this.u16();
    if (!this.broken && this.has(length)) this.pos += length;
    return length;
  }

  /** One property section (Property Length, then properties); the seen set is per section. */
  properties(): void {
    const length = this.varint();
    if (this.broken || !this.has(length)) return;
    const sectionEnd = this.pos + length;
    seen.fill(0);
    while (this.pos < sectionEnd && !this.broken && this.problem === undefined) {
      const id = this.bytes[this.pos++] as number; // pos < sectionEnd, which has() kept <= end
      const size = VALUE_SIZE[id] as number; // a byte: VALUE_SIZE has 256 entries
      if (size === 0) {
        this.broken = true;
        return;
      }
      if (id !== USER_PROPERTY && seen[id]!++ > 0) {
        return this.fail(0x82, `property 0x${id.toString(16)} given more than once`);
      }
      if (size > 0) {
        if (this.has(size)) this.pos += size;
      } else if (size === -1) this.skipPrefixed();
      else if (size === -3) this.varint();
      else this.userProperty();
    }
  }

  private userProperty(): void {
    const bytes = this.skipPrefixed() + this.skipPrefixed();
    this.userCount++;
    this.userBytes += bytes;
    const { maxCount, maxBytes } = this.limits;
    if (this.userCount > maxCount) return this.fail(0x97, `more than ${maxCount} user properties`);
    if (this.userBytes > maxBytes)
      return this.fail(0x97, `user properties over ${maxBytes} bytes of names and values`);
  }

  private fail(reasonCode: number, message: string): void {
    this.problem = { ...this.header, reasonCode, message };
  }

  /** True while scanning should go on. */
  get ok(): boolean {
    return !this.broken && this.problem === undefined;
  }
}

/**
 * Checks the property sections of one whole MQTT 5 packet (fixed header included) before it
 * is parsed, so that the cost of a packet the server refuses stays a walk over at most
 * `maxCount` user properties and one of each other property: mqtt-packet would build every
 * user property and every repeated property into objects and arrays first (20,000 user
 * properties in a 318 KB PUBLISH took ~50 ms to parse). `version` is the one learnt from
 * CONNECT (a CONNECT is read in the level it asks for). Returns undefined when nothing is over a
 * limit, including for bytes that do not make a packet (mqtt-packet reports those). Never throws.
 */
export function scanProperties(
  bytes: Buffer,
  version: number,
  limits: UserPropertyLimits,
): PropertyScanProblem | undefined {
  const first = bytes[0];
  if (first === undefined) return undefined;
  const type = first >> 4;
  let pos = 1;
  while (pos < bytes.length && pos < 5 && bytes[pos]! & 0x80) pos++;
  pos++;
  const header: PropertyScanProblem = { reasonCode: 0, message: '', cmd: COMMANDS[type] ?? '' };
  const scan = new Scan(bytes, pos, bytes.length, limits, header);
  const remaining = bytes.length - pos;
  switch (type) {
    case 1:
      scanConnect(scan);
      break;
    case 3: {
      if (version !== 5) return undefined;
      const qos = (first >> 1) & 0x03;
      header.qos = qos;
      scan.skipPrefixed();
      if (qos > 0) header.messageId = scan.u16();
      if (scan.ok) scan.properties();
      break;
    }
    case 4:
    case 5:
    case 6:
    case 7:
      if (version !== 5 || remaining < 4) return undefined;
      header.messageId = scan.u16();
      scan.pos++;
      scan.properties();
      break;
    case 2:
      if (version !== 5 || remaining < 3) return undefined;
      scan.pos += 2;
      scan.properties();
      break;
    case 8:
    case 9:
    case 10:
    case 11:
      if (version !== 5) return undefined;
      header.messageId = scan.u16();
      if (scan.ok) scan.properties();
      break;
    case 14:
    case 15:
      if (version !== 5 || remaining < 2) return undefined;
      scan.pos++;
      scan.properties();
      break;
    default:
      return undefined;
  }
  return scan.problem;
}

/** CONNECT (§3.1): the properties after the variable header, and the will's in the payload. */
function scanConnect(scan: Scan): void {
  scan.skipPrefixed();
  if (!scan.has(4)) return;
  const level = scan.bytes[scan.pos]! & 0x7f; // has(4)
  const flags = scan.bytes[scan.pos + 1] as number; // has(4)
  scan.header.protocolVersion = level;
  if (level !== 5) return;
  scan.pos += 4;
  scan.properties();
  if (!scan.ok || (flags & 0x04) === 0) return;
  scan.skipPrefixed();
  if (scan.ok) scan.properties();
}
