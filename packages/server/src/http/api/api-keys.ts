import { createHash, timingSafeEqual } from 'node:crypto';

const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

export type KeyCheck = 'ok' | 'not-configured' | 'missing' | 'invalid';

/**
 * The `x-api-key` check of `/api/*` (`auth.api_keys`). Both sides are hashed with SHA-256, so
 * that every comparison is of 32 bytes whatever the lengths, and the presented key is compared
 * with every configured one in constant time, without stopping at a match: the answer's
 * timing tells nothing about the keys. No keys configured: the API is closed.
 */
export class ApiKeys {
  private readonly digests: readonly Buffer[];

  constructor(keys: readonly string[]) {
    this.digests = keys.map(sha256);
  }

  get configured(): boolean {
    return this.digests.length > 0;
  }

  check(presented: string | string[] | undefined): KeyCheck {
    if (this.digests.length === 0) return 'not-configured';
    if (typeof presented !== 'string' || presented.length === 0) return 'missing';
    const digest = sha256(presented);
    let matched = 0;
    for (const known of this.digests) matched |= timingSafeEqual(digest, known) ? 1 : 0;
    return matched === 1 ? 'ok' : 'invalid';
  }
}
