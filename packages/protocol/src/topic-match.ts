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
