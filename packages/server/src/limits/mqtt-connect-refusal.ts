import type { Connection, ConnectionHandler } from '../transport/connection.js';

/** How long a refused MQTT connection may take to send its CONNECT before it is just closed (ms). */
export const REFUSED_CONNECT_WAIT_MS = 2000;
/** MQTT 5 CONNACK 0x9F Connection rate exceeded. */
export const CONNECTION_RATE_EXCEEDED = 0x9f;
/** MQTT 5 CONNACK 0x97 Quota exceeded. */
const QUOTA_EXCEEDED = 0x97;
/** MQTT 3.1/3.1.1 CONNACK return code 3, Server unavailable. */
const SERVER_UNAVAILABLE_V4 = 3;
/** A CONNECT's protocol level is within its first 14 bytes (header, length, "MQIsdp", level). */
const MAX_PREFIX = 14;

/**
 * The protocol level of the CONNECT packet `bytes` starts with: undefined when more bytes are
 * needed, -1 when it is not a CONNECT.
 */
export function connectLevel(bytes: Buffer): number | undefined {
  if (bytes.length === 0) return undefined;
  if (bytes[0] !== 0x10) return -1;
  let i = 1;
  // Remaining Length: 1 to 4 bytes, the high bit saying another follows.
  for (;;) {
    if (i >= bytes.length) return undefined;
    if ((bytes[i++] & 0x80) === 0) break;
    if (i > 4) return -1;
  }
  if (i + 2 > bytes.length) return undefined;
  const nameLength = bytes.readUInt16BE(i);
  if (nameLength > 6) return -1;
  const at = i + 2 + nameLength;
  return at < bytes.length ? bytes[at] : undefined;
}

/**
 * An MQTT connection refused by a per-address limit (limits.connections_per_second_per_ip,
 * limits.max_connections_per_ip). It is not counted as open and gets no session: the server
 * waits for the CONNECT (at most REFUSED_CONNECT_WAIT_MS), answers with a CONNACK saying why
 * (MQTT 5: 0x9F Connection rate exceeded or 0x97 Quota exceeded; 3.1/3.1.1: 3 Server
 * unavailable) and closes. Anything else closes it at once.
 */
export class MqttConnectRefusal implements ConnectionHandler {
  private pending: Buffer | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly connection: Connection,
    private readonly reason: 'ip_rate' | 'ip_max',
  ) {
    connection.handler = this;
    this.timer = setTimeout(() => connection.abort(), REFUSED_CONNECT_WAIT_MS);
    this.timer.unref();
  }

  get label(): string {
    return `refused MQTT connection from ${this.connection.remoteAddress}`;
  }

  onBytes(data: Buffer): void {
    const bytes = this.pending ? Buffer.concat([this.pending, data]) : data;
    const level = connectLevel(bytes);
    if (level === undefined) {
      if (bytes.length < MAX_PREFIX) this.pending = bytes;
      else this.connection.abort();
      return;
    }
    this.pending = undefined;
    if (level === 5) {
      const reason = this.reason === 'ip_rate' ? CONNECTION_RATE_EXCEEDED : QUOTA_EXCEEDED;
      this.send(Buffer.from([0x20, 3, 0, reason, 0]));
    } else if (level === 3 || level === 4) {
      this.send(Buffer.from([0x20, 2, 0, SERVER_UNAVAILABLE_V4]));
    }
    this.connection.close('overloaded', 'connection refused');
  }

  private send(packet: Buffer): void {
    this.connection.enqueue(this.connection.frameBinary(packet), false);
  }

  onClosed(): void {
    clearTimeout(this.timer);
  }

  sendPing(): void {}

  onTimeout(): void {
    this.connection.abort();
  }

  goAway(): void {
    this.connection.abort();
  }

  /** Never an operator's target: it has no id yet and is closing anyway. */
  matches(): boolean {
    return false;
  }

  kick(): void {
    this.connection.abort();
  }
}
