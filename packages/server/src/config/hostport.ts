/** Completes "expected ...". */
export const HOST_PORT = 'HOST:PORT (e.g. 0.0.0.0:1883, or [::1]:1883 for IPv6)';

/** `0.0.0.0:1883`, `localhost:1883`, `[::1]:1883` into host and port text. */
export function splitHostPort(text: string): [host: string, port: string] | undefined {
  const bracketed = /^\[([^\]]+)\]:([^:]*)$/.exec(text);
  // Both groups are required by the pattern, so a match has them.
  if (bracketed) return [bracketed[1] as string, bracketed[2] as string];
  const colon = text.lastIndexOf(':');
  if (colon <= 0) return undefined;
  const host = text.slice(0, colon);
  if (/[:[\]]/.test(host)) return undefined;
  return [host, text.slice(colon + 1)];
}
