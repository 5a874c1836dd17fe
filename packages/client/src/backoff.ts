/**
 * The wait before reconnect attempt `step` (0 for the first): exponential backoff with full
 * jitter, as centrifuge-js does: `min + random(0, min(max, min * 2^step))`, at most `max`.
 * Without `jitter` the wait is the top of that range, the same for every client, which is what
 * makes a thousand clients dropped at once come back at once (kept to measure that).
 */
export function reconnectDelay(
  step: number,
  minMs: number,
  maxMs: number,
  jitter = true,
  random: () => number = Math.random,
): number {
  const spread = Math.min(maxMs, minMs * 2 ** Math.min(step, 31));
  return Math.min(maxMs, minMs + Math.floor((jitter ? random() : 1) * spread));
}
