export type RateLimitedProtocol = 'native' | 'json' | 'mqtt';
/** Which per-connection limit refused a message: limits.messages_per_second or limits.bytes_per_second. */
export type RateLimit = 'messages' | 'bytes';

export const RATE_LIMITED_PROTOCOLS: readonly RateLimitedProtocol[] = ['native', 'json', 'mqtt'];
export const RATE_LIMITS: readonly RateLimit[] = ['messages', 'bytes'];

/** Plain counters bumped when a limit bites; metrics/rate-limit-metrics.ts reads them at scrape time. */
export class RateLimitStats {
  /** Messages refused (or, for MQTT QoS 0, dropped), by protocol and limit. */
  readonly limited: Record<RateLimitedProtocol, Record<RateLimit, number>> = {
    native: { messages: 0, bytes: 0 },
    json: { messages: 0, bytes: 0 },
    mqtt: { messages: 0, bytes: 0 },
  };
  /** Connections closed for being over a limit (repeatedly, or at once where the protocol says so). */
  readonly disconnects: Record<RateLimitedProtocol, number> = { native: 0, json: 0, mqtt: 0 };
}
