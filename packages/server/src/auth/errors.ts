/**
 * A key or credential named in `[auth]` cannot be used (an unreadable or invalid PEM file,
 * ...): start-up stops with this one line, which names the key (the CLI prints it like
 * StoreOpenError and exits with status 1).
 */
export class AuthConfigError extends Error {
  override name = 'AuthConfigError';
}
