import { ErrorCode } from '@pulse/protocol';
import { Refusal, checkSharedFilter, isSystemChannel } from '@pulse/core';

const MAX_TOPIC_BYTES = 65_535;

function textProblem(name: string): string | undefined {
  if (name.length === 0) return 'empty topic';
  if (Buffer.byteLength(name) > MAX_TOPIC_BYTES) return 'topic longer than 65535 bytes';
  // mqtt-packet decodes malformed UTF-8 to U+FFFD; U+0000 is forbidden (MQTT 5 §1.5.4).
  if (name.includes('\u0000') || name.includes('\uFFFD'))
    return 'topic is not valid UTF-8 or contains U+0000';
  return undefined;
}

/** MQTT topic names: UTF-8, no wildcard characters (MQTT 5 §4.7.1), `$` reserved for the server. */
export function checkMqttTopic(name: string): Refusal | undefined {
  const problem = textProblem(name);
  if (problem) return new Refusal(ErrorCode.InvalidChannel, problem);
  if (name.includes('+') || name.includes('#'))
    return new Refusal(ErrorCode.InvalidChannel, 'wildcard in topic name');
  if (isSystemChannel(name)) return new Refusal(ErrorCode.Forbidden, 'topics starting with $ are reserved');
  return undefined;
}

/** MQTT topic filters (MQTT 5 §4.7.1), including `$share/{group}/{filter}` (§4.8.2). */
export function checkMqttFilter(filter: string): Refusal | undefined {
  const shared = checkSharedFilter(filter, checkMqttFilter);
  if (shared.shared) return shared.refusal;
  const problem = textProblem(filter);
  if (problem) return new Refusal(ErrorCode.InvalidChannel, problem);
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i];
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) {
      return new Refusal(ErrorCode.InvalidChannel, '"#" must be a whole level, and the last');
    }
    if (level.includes('+') && level !== '+')
      return new Refusal(ErrorCode.InvalidChannel, '"+" must be a whole level');
  }
  return undefined;
}
