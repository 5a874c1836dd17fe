import { createHmac, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { PASSWORD_HASH_PREFIX } from '../config/auth.js';

/** scrypt cost parameters of new hashes (N = 2^15, r = 8, p = 1: about 32 MiB and 50-100 ms). */
export const SCRYPT_N = 32_768;
export const SCRYPT_R = 8;
export const SCRYPT_P = 1;
const KEY_LENGTH = 32;
const SALT_LENGTH = 16;
/** Upper bounds on the parameters a stored hash may ask for (memory = 128 * N * r bytes). */
const MAX_N = 1 << 20;
const MAX_R = 32;
const MAX_P = 16;
const MAX_MEMORY = 256 * 1024 * 1024;

export interface ScryptHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

function derive(password: string | Buffer, salt: Buffer, N: number, r: number, p: number, length: number) {
  return new Promise<Buffer>((resolve, reject) => {
    scrypt(password, salt, length, { N, r, p, maxmem: MAX_MEMORY }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

/** `scrypt$N$r$p$saltB64$hashB64`, the `password_hash` of `[[auth.users]]` (what `pulse passwd` prints). */
export async function hashPassword(password: string | Buffer): Promise<string> {
  const salt = randomBytes(SALT_LENGTH);
  const hash = await derive(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_LENGTH);
  return `${PASSWORD_HASH_PREFIX}${SCRYPT_N}$${SCRYPT_R}$${SCRYPT_P}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

const isPowerOfTwo = (n: number) => n > 1 && (n & (n - 1)) === 0;

/** Parses a stored hash; a string describing the problem when it is not one. */
export function parsePasswordHash(text: string): ScryptHash | string {
  const parts = text.split('$');
  // The defaults never apply: there are exactly six parts past the check below.
  const [head = '', nText = '', rText = '', pText = '', saltText = '', hashText = ''] = parts;
  if (parts.length !== 6 || `${head}$` !== PASSWORD_HASH_PREFIX) {
    return 'expected scrypt$N$r$p$salt$hash (from `pulse passwd`)';
  }
  const N = decimalOrNaN(nText);
  const r = decimalOrNaN(rText);
  const p = decimalOrNaN(pText);
  if (!isPowerOfTwo(N) || N > MAX_N) return `N must be a power of two from 2 to ${MAX_N}`;
  if (!(r >= 1 && r <= MAX_R)) return `r must be 1 to ${MAX_R}`;
  if (!(p >= 1 && p <= MAX_P)) return `p must be 1 to ${MAX_P}`;
  if (128 * N * r > MAX_MEMORY) return 'N * r needs more than 256 MiB';
  const base64 = /^[A-Za-z0-9+/]+={0,2}$/;
  if (!base64.test(saltText) || !base64.test(hashText)) return 'salt and hash must be base64';
  const salt = Buffer.from(saltText, 'base64');
  const hash = Buffer.from(hashText, 'base64');
  if (salt.length < 8) return 'salt must be at least 8 bytes';
  if (hash.length < 16 || hash.length > 64) return 'hash must be 16 to 64 bytes';
  return { N, r, p, salt, hash };
}

function decimalOrNaN(text: string): number {
  return /^[0-9]{1,8}$/.test(text) ? Number(text) : Number.NaN;
}

/** Compares in constant time; false for a wrong password. */
export async function verifyPassword(password: string | Buffer, stored: ScryptHash): Promise<boolean> {
  const derived = await derive(password, stored.salt, stored.N, stored.r, stored.p, stored.hash.length);
  return timingSafeEqual(derived, stored.hash);
}

/** Why a password check did not run: too many waiting (`busy`), or its connection went away. */
export type SkippedCheck = 'busy' | 'cancelled';

/** scrypt checks running at once (each holds a libuv pool thread and ~32 MiB). */
const CHECKS_RUNNING = 2;
/** Checks waiting for a slot; past it a check is refused at once. */
const CHECKS_QUEUED = 64;
/** Successful checks remembered (username, password digest), and for how long. */
const REMEMBERED = 1024;
const REMEMBER_MS = 60_000;

interface QueuedCheck {
  start: () => void;
  cancelled: () => boolean;
  skip: () => void;
}

/**
 * Password checks against scrypt hashes, guarded against floods (docs/SECURITY.md): at most
 * `running` at once and `queued` waiting (further ones are refused: `busy`), a waiting check
 * whose connection has closed is skipped (`cancelled`), and successful checks are remembered
 * for a minute under an HMAC of (username, password) with a per-process key, so that clients
 * reconnecting with good credentials do not queue behind a flood.
 */
export class PasswordChecks {
  private active = 0;
  private readonly waiting: QueuedCheck[] = [];
  private readonly remembered = new Map<string, number>();
  private readonly key = randomBytes(32);

  constructor(
    private readonly running = CHECKS_RUNNING,
    private readonly queued = CHECKS_QUEUED,
  ) {}

  private digest(username: string, password: Buffer): string {
    return createHmac('sha256', this.key)
      .update(`${username.length}:${username}\u0000`)
      .update(password)
      .digest('base64');
  }

  /** Was this (username, password) verified a moment ago? */
  remembers(username: string, password: Buffer): boolean {
    const key = this.digest(username, password);
    const until = this.remembered.get(key);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.remembered.delete(key);
    return false;
  }

  private remember(username: string, password: Buffer): void {
    const key = this.digest(username, password);
    this.remembered.delete(key);
    if (this.remembered.size >= REMEMBERED) {
      const oldest = this.remembered.keys().next().value;
      if (oldest !== undefined) this.remembered.delete(oldest);
    }
    this.remembered.set(key, Date.now() + REMEMBER_MS);
  }

  /**
   * Verifies `password` against `stored` (a bad hash counts as a mismatch); `remember` names
   * the user whose success is to be remembered (none for the dummy check of unknown names).
   */
  async verify(
    password: Buffer,
    stored: ScryptHash | Promise<ScryptHash>,
    cancelled: () => boolean,
    remember?: string,
  ): Promise<boolean | SkippedCheck> {
    const slot = await this.slot(cancelled);
    if (slot !== undefined) return slot;
    try {
      const ok = await verifyPassword(password, await stored).catch(() => false);
      if (ok && remember !== undefined) this.remember(remember, password);
      return ok;
    } finally {
      this.release();
    }
  }

  /** undefined once a slot is held (release it), else why not. */
  private slot(cancelled: () => boolean): Promise<SkippedCheck | undefined> | SkippedCheck | undefined {
    if (cancelled()) return 'cancelled';
    if (this.active < this.running) {
      this.active++;
      return undefined;
    }
    if (this.waiting.length >= this.queued) {
      this.prune();
      if (this.waiting.length >= this.queued) return 'busy';
    }
    return new Promise((resolve) => {
      this.waiting.push({
        cancelled,
        start: () => resolve(undefined),
        skip: () => resolve('cancelled'),
      });
    });
  }

  /** Drops waiting checks whose connection has gone. */
  private prune(): void {
    for (let i = this.waiting.length - 1; i >= 0; i--) {
      const check = this.waiting[i]!; // 0 <= i < length: the loop bounds, and only later entries were spliced
      if (check.cancelled()) {
        this.waiting.splice(i, 1);
        check.skip();
      }
    }
  }

  private release(): void {
    for (;;) {
      const next = this.waiting.shift();
      if (next === undefined) {
        this.active--;
        return;
      }
      if (next.cancelled()) next.skip();
      else return next.start(); // the slot passes on
    }
  }
}
