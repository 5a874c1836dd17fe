import type { Packet } from '@pulse/protocol';
import type { MqttLink } from '../mqtt/mqtt-link.js';
import type { MqttStats } from '../mqtt/mqtt-stats.js';
import type { ConnectionLimiter } from './connection-limiter.js';

/**
 * What each protocol tells a client over limits.messages_per_second or
 * limits.bytes_per_second (docs/SECURITY.md, "Rate limiting"). Each function is called by its
 * protocol only when the connection has a limiter (a rate limit is on), before the message is
 * handled; `true` means the message was refused and must not be handled.
 */

/** MQTT 5 reason code 0x96 Message rate too high: valid in DISCONNECT only (MQTT 5 §2.4). */
export const MESSAGE_RATE_TOO_HIGH = 0x96;
/** MQTT 5 reason code 0x97 Quota exceeded: what PUBACK, PUBREC and SUBACK can say instead. */
export const QUOTA_EXCEEDED = 0x97;

function closingText(limiter: ConnectionLimiter, limit: 'messages' | 'bytes'): string {
  return `rate limited (${limiter.describe(limit)}) too many times in a row: closing`;
}

/**
 * MQTT PUBLISH, SUBSCRIBE and UNSUBSCRIBE (acknowledgements and PINGREQ are never limited):
 *
 * - over limits.bytes_per_second: DISCONNECT 0x96 (MQTT 5) or close (3.1.1), at once;
 * - over limits.messages_per_second: PUBLISH QoS 0 is dropped; QoS 1/2 gets PUBACK/PUBREC
 *   0x97 Quota exceeded (MQTT 5; 0x96 is not allowed there) and is dropped, or closes the
 *   connection (3.1.1 cannot refuse a PUBLISH);
 *   SUBSCRIBE gets SUBACK 0x97 Quota exceeded (3.1.1: 0x80 Failure) for every filter;
 *   UNSUBSCRIBE gets UNSUBACK 0x80 (MQTT 5) or closes (3.1.1);
 * - the rate_limit_disconnect_after-th limited packet in a row: DISCONNECT 0x96 or close.
 */
export function mqttRateLimited(link: MqttLink, packet: Packet, stats: MqttStats): boolean {
  if (packet.cmd !== 'publish' && packet.cmd !== 'subscribe' && packet.cmd !== 'unsubscribe') return false;
  // A resent QoS 2 PUBLISH already routed and awaiting PUBREL is only acknowledged again:
  // refusing it now would leave its packet id held for good.
  if (packet.cmd === 'publish' && packet.qos === 2 && link.session?.incomingQos2.has(packet.messageId ?? 0)) {
    return false;
  }
  const limiter = link.connection.limiter as ConnectionLimiter;
  const limit = limiter.admit();
  if (limit === undefined) return false;
  limiter.countLimited('mqtt', limit);
  const v5 = link.version === 5;
  const exhausted = limiter.exhausted;
  const close = (): true => {
    limiter.countDisconnect('mqtt');
    const why = exhausted ? closingText(limiter, limit) : `rate limited: ${limiter.describe(limit)}`;
    link.disconnect(MESSAGE_RATE_TOO_HIGH, why);
    return true;
  };
  const closing = limit === 'bytes' || exhausted;
  if (packet.cmd === 'publish') {
    stats.count(stats.refused, `0x${(closing ? MESSAGE_RATE_TOO_HIGH : QUOTA_EXCEEDED).toString(16)}`);
  }
  if (closing) return close();
  switch (packet.cmd) {
    case 'publish':
      if (packet.qos === 0) return true;
      if (!v5) return close();
      link.writePacket({
        cmd: packet.qos === 1 ? 'puback' : 'pubrec',
        messageId: packet.messageId,
        reasonCode: QUOTA_EXCEEDED,
      });
      return true;
    case 'subscribe':
      link.writePacket({
        cmd: 'suback',
        messageId: packet.messageId,
        granted: packet.subscriptions.map(() => (v5 ? QUOTA_EXCEEDED : 0x80)),
      });
      return true;
    case 'unsubscribe':
      if (!v5) return close();
      link.writePacket({
        cmd: 'unsuback',
        messageId: packet.messageId,
        granted: packet.unsubscriptions.map(() => 0x80),
      });
      return true;
  }
}
