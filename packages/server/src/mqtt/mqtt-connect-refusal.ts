import { ConnackV4, Reason } from '@pulse/protocol';
import type { AdmissionRefusal } from '../limits/admission-refusal.js';
import type { Connection, ConnectionHandler } from '../transport/connection.js';

/** How long a refused MQTT connection may take to send its CONNECT before it is just closed (ms). */
export const REFUSED_CONNECT_WAIT_MS = 2000;

/**
 * The MQTT 5 CONNACK reason of each refusal; 3.1/3.1.1 get return code 3 Server unavailable
 * for all of them (docs/MQTT.md, "Refused connections").
 */
export const CONNACK_REASON_OF: Record<AdmissionRefusal, number> = {
  max_connections: Reason.QuotaExceeded,
  draining: Reason.ServerShuttingDown,
  ip_rate: Reason.ConnectionRateExceeded,
  ip_max: Reason.QuotaExceeded,
};
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
    if ((bytes[i++]! & 0x80) === 0) break; // i < bytes.length, just checked
    if (i > 4) return -1;
  }
  if (i + 2 > bytes.length) return undefined;
  const nameLength = bytes.readUInt16BE(i);
  if (nameLength > 6) return -1;
  const at = i + 2 + nameLength;
  return at < bytes.length ? bytes[at] : undefined;
}

/**
 * Refuses a new MQTT connection before it has a session (admission: limits.max_connections,
 * a draining server, the per-address limits). It is not counted as open: the server waits
 * for the CONNECT (at most REFUSED_CONNECT_WAIT_MS), answers with a CONNACK saying why
 * (CONNACK_REASON_OF; 3.1/3.1.1: 3 Server unavailable) and closes. Anything else closes it at once.
 */
export function refuseMqttConnection(connection: Connection, refusal: AdmissionRefusal): void {
  new MqttConnectRefusal(connection, refusal);
}

class MqttConnectRefusal implements ConnectionHandler {
  private pending: Buffer | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly connection: Connection,
    private readonly refusal: AdmissionRefusal,
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
      this.send(Buffer.from([0x20, 3, 0, CONNACK_REASON_OF[this.refusal], 0]));
    } else if (level === 3 || level === 4) {
      this.send(Buffer.from([0x20, 2, 0, ConnackV4.ServerUnavailable]));
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
