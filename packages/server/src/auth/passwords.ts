import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
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
  if (parts.length !== 6 || `${parts[0]}$` !== PASSWORD_HASH_PREFIX) {
    return 'expected scrypt$N$r$p$salt$hash (from `pulse passwd`)';
  }
  const [N, r, p] = parts.slice(1, 4).map((s) => (/^[0-9]{1,8}$/.test(s) ? Number(s) : Number.NaN));
  if (!isPowerOfTwo(N) || N > MAX_N) return `N must be a power of two from 2 to ${MAX_N}`;
  if (!(r >= 1 && r <= MAX_R)) return `r must be 1 to ${MAX_R}`;
  if (!(p >= 1 && p <= MAX_P)) return `p must be 1 to ${MAX_P}`;
  if (128 * N * r > MAX_MEMORY) return 'N * r needs more than 256 MiB';
  const base64 = /^[A-Za-z0-9+/]+={0,2}$/;
  if (!base64.test(parts[4]) || !base64.test(parts[5])) return 'salt and hash must be base64';
  const salt = Buffer.from(parts[4], 'base64');
  const hash = Buffer.from(parts[5], 'base64');
  if (salt.length < 8) return 'salt must be at least 8 bytes';
  if (hash.length < 16 || hash.length > 64) return 'hash must be 16 to 64 bytes';
  return { N, r, p, salt, hash };
}

/** Compares in constant time; false for a wrong password. */
export async function verifyPassword(password: string | Buffer, stored: ScryptHash): Promise<boolean> {
  const derived = await derive(password, stored.salt, stored.N, stored.r, stored.p, stored.hash.length);
  return timingSafeEqual(derived, stored.hash);
}

/** Constant-time comparison of a plain-text password, whatever the lengths. */
export function plainPasswordMatches(given: Buffer, expected: Buffer): boolean {
  const length = Math.max(given.length, expected.length, 1);
  const a = Buffer.alloc(length);
  const b = Buffer.alloc(length);
  given.copy(a);
  expected.copy(b);
  return timingSafeEqual(a, b) && given.length === expected.length;
}
