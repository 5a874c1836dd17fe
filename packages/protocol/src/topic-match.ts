/**
 * Whether `channel` matches a subscription `filter` with MQTT-style `+` and `#` levels
 * (`a/#` also matches `a`; first-level wildcards do not match `$` channels). Browser-safe.
 */
export function filterMatches(filter: string, channel: string): boolean {
  if (filter === channel) return true;
  const f = filter.split('/');
  const c = channel.split('/');
  if (channel.charCodeAt(0) === 0x24 && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= c.length) return false;
    if (f[i] !== '+' && f[i] !== c[i]) return false;
  }
  return f.length === c.length;
}

/** Shared subscriptions are named `$share/{group}/{filter}` (MQTT 5 §4.8.2). */
export const SHARED_PREFIX = '$share/';

/**
 * Whether a subscription matches `channel`: a filter as in `filterMatches`, and a shared
 * subscription `$share/{group}/{filter}` by its `{filter}`.
 */
export function subscriptionMatches(subscription: string, channel: string): boolean {
  if (!subscription.startsWith(SHARED_PREFIX)) return filterMatches(subscription, channel);
  const slash = subscription.indexOf('/', SHARED_PREFIX.length);
  return slash !== -1 && filterMatches(subscription.slice(slash + 1), channel);
}
