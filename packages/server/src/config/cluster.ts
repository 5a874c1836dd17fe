import type { Rule } from './kinds.js';

/** The URLs of `cluster.url`: comma-separated, blanks around them ignored. */
export function clusterUrls(text: string): string[] {
  return text
    .split(',')
    .map((url) => url.trim())
    .filter((url) => url !== '');
}

const ENGINE_SCHEMES = new Set(['redis:', 'rediss:', 'nats:', 'tls:']);

/** Each URL parses and names a Redis or NATS server; which one fits the engine is checked at start-up. */
export const CLUSTER_URLS_RULE: Rule<string> = {
  test: (text) =>
    clusterUrls(text).every((url) => URL.canParse(url) && ENGINE_SCHEMES.has(new URL(url).protocol)),
  message: 'must be empty or URLs separated by commas, each redis://, rediss://, nats:// or tls://',
};

/** Dot-separated words: a valid NATS subject prefix and a readable Redis key prefix. */
export const CLUSTER_PREFIX_RULE: Rule<string> = {
  test: (text) => text.length <= 64 && /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(text),
  message: 'must be at most 64 letters, digits, "_" or "-", in words separated by "."',
};
