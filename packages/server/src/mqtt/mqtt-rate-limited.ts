import { type Packet, Reason, SubackV4 } from '@pulse/protocol';
import type { ConnectionLimiter } from '../limits/connection-limiter.js';
import type { MqttAnswer } from './mqtt-answer.js';
import type { MqttStats } from './mqtt-stats.js';
import type { MqttSession } from './session.js';

/**
 * MQTT PUBLISH, SUBSCRIBE and UNSUBSCRIBE over limits.messages_per_second or
 * limits.bytes_per_second (docs/SECURITY.md, "Rate limiting"); acknowledgements and PINGREQ
 * are never limited. Called only when the connection has a limiter; `true` means the packet
 * was refused and must not be handled:
 *
 * - over limits.bytes_per_second: DISCONNECT 0x96 (MQTT 5) or close (3.1.1), at once;
 * - over limits.messages_per_second: PUBLISH QoS 0 is dropped; QoS 1/2 gets PUBACK/PUBREC
 *   0x97 Quota exceeded (MQTT 5; 0x96 is not allowed there) and is dropped, or closes the
 *   connection (3.1.1 cannot refuse a PUBLISH);
 *   SUBSCRIBE gets SUBACK 0x97 Quota exceeded (3.1.1: 0x80 Failure) for every filter;
 *   UNSUBSCRIBE gets UNSUBACK 0x80 (MQTT 5) or closes (3.1.1);
 * - the rate_limit_disconnect_after-th limited packet in a row: DISCONNECT 0x96 or close.
 */
export function mqttRateLimited(
  link: MqttAnswer,
  session: MqttSession,
  limiter: ConnectionLimiter,
  packet: Packet,
  stats: MqttStats,
): boolean {
  if (packet.cmd !== 'publish' && packet.cmd !== 'subscribe' && packet.cmd !== 'unsubscribe') return false;
  // A resent QoS 2 PUBLISH already routed and awaiting PUBREL is only acknowledged again:
  // refusing it now would leave its packet id held for good.
  if (packet.cmd === 'publish' && packet.qos === 2 && session.awaitsRelease(packet.messageId ?? 0)) {
    return false;
  }
  const verdict = limiter.verdict('mqtt');
  if (verdict === undefined) return false;
  const v5 = link.version === 5;
  const close = (): true => {
    limiter.countDisconnect('mqtt');
    link.disconnect(Reason.MessageRateTooHigh, verdict.message);
    return true;
  };
  const closing = verdict.limit === 'bytes' || verdict.exhausted;
  if (packet.cmd === 'publish') {
    const reason = closing ? Reason.MessageRateTooHigh : Reason.QuotaExceeded;
    stats.count(stats.refused, `0x${reason.toString(16)}`);
  }
  if (closing) return close();
  switch (packet.cmd) {
    case 'publish':
      if (packet.qos === 0) return true;
      if (!v5) return close();
      link.writePacket({
        cmd: packet.qos === 1 ? 'puback' : 'pubrec',
        messageId: packet.messageId,
        reasonCode: Reason.QuotaExceeded,
      });
      return true;
    case 'subscribe':
      link.writePacket({
        cmd: 'suback',
        messageId: packet.messageId,
        granted: packet.subscriptions.map(() => (v5 ? Reason.QuotaExceeded : SubackV4.Failure)),
      });
      return true;
    case 'unsubscribe':
      if (!v5) return close();
      link.writePacket({
        cmd: 'unsuback',
        messageId: packet.messageId,
        granted: packet.unsubscriptions.map(() => Reason.UnspecifiedError),
      });
      return true;
  }
}
