import { createHash, randomBytes } from 'node:crypto';

/** 144 random bits: as base64url, 24 characters. */
const SESSION_ID_BYTES = 18;
const SESSION_ID_SHAPE = /^[A-Za-z0-9_-]{24}$/;

/** A new HTTP streaming session id: the secret a POST must name to feed that session. */
export function newSessionId(): string {
  return randomBytes(SESSION_ID_BYTES).toString('base64url');
}

/**
 * What sessions are looked up by: the SHA-256 of the id, so that how long a lookup takes
 * depends on the hash of what a client sent, never on how much of a real id it guessed.
 * Undefined for text that cannot be an id (looked up no further).
 */
export function sessionKey(id: string): string | undefined {
  if (!SESSION_ID_SHAPE.test(id)) return undefined;
  return createHash('sha256').update(id).digest('base64');
}
