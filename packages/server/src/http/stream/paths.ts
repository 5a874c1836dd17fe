/** The HTTP streaming endpoints (docs/PROTOCOL.md, "HTTP streaming transport"), all under this prefix. */
export const HTTP_STREAM_PREFIX = '/connection/';
export const HTTP_STREAM_PATHS = {
  stream: '/connection/stream',
  sse: '/connection/sse',
  send: '/connection/send',
} as const;

/** The header (or query parameter `session`) a POST names its session by. */
export const SESSION_HEADER = 'pulse-session';
