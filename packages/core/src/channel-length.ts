import { ErrorCode } from '@pulse/protocol';
import { Refusal } from './refusal.js';

/**
 * UTF-8 bytes a channel, topic or filter may have by default (`limits.max_channel_length`).
 * Centrifugo's channel_max_length is 255 and AWS IoT Core's topics 256 bytes; 1 KiB leaves room
 * for deep hierarchies and is the longest name the wildcard match cache keeps. MQTT's own bound
 * (65,535) times the subscriptions and sessions a server holds is gigabytes.
 */
export const DEFAULT_MAX_CHANNEL_LENGTH = 1024;

/** Refuses a channel, topic or filter (a `$share` name whole) of more than `max` UTF-8 bytes. */
export function checkChannelLength(name: string, max: number): Refusal | undefined {
  // A UTF-16 unit is at most 3 UTF-8 bytes (a surrogate pair, 4 for 2): short names are not measured.
  if (name.length * 3 <= max) return undefined;
  if (name.length <= max && Buffer.byteLength(name, 'utf8') <= max) return undefined;
  return new Refusal(ErrorCode.InvalidChannel, `name longer than ${max} bytes (limits.max_channel_length)`);
}
