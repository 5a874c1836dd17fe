import { ErrorCode } from '@pulse/protocol';
import { BRIDGE_STATE_PREFIX, Refusal, checkSharedFilter, isSystemChannel } from '@pulse/core';

const MAX_TOPIC_BYTES = 65_535;

function textProblem(name: string): string | undefined {
  if (name.length === 0) return 'empty topic';
  if (Buffer.byteLength(name) > MAX_TOPIC_BYTES) return 'topic longer than 65535 bytes';
  // mqtt-packet decodes malformed UTF-8 to U+FFFD; U+0000 is forbidden (MQTT 5 §1.5.4).
  if (name.includes('\u0000') || name.includes('\uFFFD'))
    return 'topic is not valid UTF-8 or contains U+0000';
  return undefined;
}

/**
 * The `$` topics a client may not publish to, as in Mosquitto: `$SYS` is the server's but for
 * the state topics of bridges (`$SYS/broker/connection/<id>/state`, Mosquitto's bridge
 * notifications and will), and `$share` names shared subscriptions. Other `$` topics are the
 * clients'; wildcards in the first level never match them (MQTT 5 §4.7.2).
 */
function reservedProblem(name: string): string | undefined {
  if (name === '$SYS' || name.startsWith('$SYS/')) {
    if (!name.startsWith(BRIDGE_STATE_PREFIX)) return "topics under $SYS are the server's";
    const levels = name.split('/');
    if (levels.length !== 5 || levels[3] === '' || levels[4] !== 'state')
      return 'under $SYS/broker/connection/ clients publish only <id>/state';
    return undefined;
  }
  if (name === '$share' || name.startsWith('$share/')) return '$share names shared subscriptions, not topics';
  return undefined;
}

/** MQTT topic names: UTF-8, no wildcard characters (MQTT 5 §4.7.1), `$SYS` and `$share` reserved. */
export function checkMqttTopic(name: string): Refusal | undefined {
  const problem = textProblem(name);
  if (problem) return new Refusal(ErrorCode.InvalidChannel, problem);
  if (name.includes('+') || name.includes('#'))
    return new Refusal(ErrorCode.InvalidChannel, 'wildcard in topic name');
  const reserved = isSystemChannel(name) ? reservedProblem(name) : undefined;
  if (reserved) return new Refusal(ErrorCode.Forbidden, reserved);
  return undefined;
}

/** MQTT topic filters (MQTT 5 §4.7.1), including `$share/{group}/{filter}` (§4.8.2). */
export function checkMqttFilter(filter: string): Refusal | undefined {
  const shared = checkSharedFilter(filter, checkMqttFilter);
  if (shared.shared) return shared.refusal;
  const problem = textProblem(filter);
  if (problem) return new Refusal(ErrorCode.InvalidChannel, problem);
  const levels = filter.split('/');
  for (const [i, level] of levels.entries()) {
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) {
      return new Refusal(ErrorCode.InvalidChannel, '"#" must be a whole level, and the last');
    }
    if (level.includes('+') && level !== '+')
      return new Refusal(ErrorCode.InvalidChannel, '"+" must be a whole level');
  }
  return undefined;
}
