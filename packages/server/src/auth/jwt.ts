import { type KeyObject, X509Certificate, createPublicKey, createSecretKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import type { AuthConfig } from '../config/index.js';
import { AuthConfigError } from './errors.js';
import { filterProblem } from './rights.js';

/** Longest token read; longer ones are refused unread. */
export const MAX_TOKEN_LENGTH = 65_536;
/** How long a JWKS download may take. */
const JWKS_TIMEOUT_MS = 5000;
/** Most often an unknown `kid` may make the server download the JWKS again. */
const MAX_JWKS_COOLDOWN_MS = 30_000;
/** Algorithms a key from the JWKS may sign with (never `none`, never HMAC). */
const JWKS_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
];

/** What a valid token says. */
export interface TokenClaims {
  /** `sub`. */
  user: string;
  /** `channels`: undefined when absent or empty (no restriction). */
  channels: string[] | undefined;
  /** `exp` in ms, when the token has one. */
  expiresAt: number | undefined;
}

/** Why a token was refused: `reason` labels pulse_auth_failures_total, `message` goes to the client. */
export interface TokenFailure {
  reason:
    | 'malformed'
    | 'expired'
    | 'not_yet_valid'
    | 'bad_signature'
    | 'bad_claims'
    | 'unknown_key'
    | 'jwks_unavailable'
    | 'algorithm';
  message: string;
}

type Jose = typeof import('jose');
let jose: Promise<Jose> | undefined;

/**
 * jose, imported at the first token to verify: a server without a JWT key never loads it
 * (docs/ARCHITECTURE.md, "What a server loads").
 */
function loadJose(): Promise<Jose> {
  jose ??= import('jose');
  return jose;
}

interface KeySource {
  algorithms: string[];
  /** The key; for the JWKS, made from jose's remote key set at the first token. */
  key: (jose: Jose) => KeyObject | JWTVerifyGetKey;
}

/** The algorithm a PEM public key verifies, from its type (RSA: RS256, EC P-256: ES256, ...). */
function algorithmOf(key: KeyObject, path: string): string {
  const type = key.asymmetricKeyType;
  if (type === 'rsa') return 'RS256';
  if (type === 'rsa-pss') return 'PS256';
  if (type === 'ed25519') return 'EdDSA';
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return 'ES256';
    if (curve === 'secp384r1') return 'ES384';
    if (curve === 'secp521r1') return 'ES512';
    throw new AuthConfigError(
      `auth.jwt_public_key: ${path} is an EC key on ${curve}, expected P-256 (ES256)`,
    );
  }
  throw new AuthConfigError(
    `auth.jwt_public_key: ${path} is a ${type} key, expected RSA (RS256) or EC P-256 (ES256)`,
  );
}

/** Reads the PEM file of `auth.jwt_public_key` (a public key or a certificate); AuthConfigError if it cannot. */
export function loadPublicKey(path: string): { key: KeyObject; algorithm: string } {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new AuthConfigError(
      `auth.jwt_public_key: cannot read ${JSON.stringify(path)}: ${e.code ?? e.message}`,
    );
  }
  let key: KeyObject;
  try {
    key = pem.includes('-----BEGIN CERTIFICATE-----')
      ? new X509Certificate(pem).publicKey
      : createPublicKey({ key: pem, format: 'pem' });
  } catch (err) {
    const why = (err as Error).message.replace(/\s+/g, ' ').trim();
    throw new AuthConfigError(
      `auth.jwt_public_key: ${JSON.stringify(path)} is not a PEM public key or certificate (${why})`,
    );
  }
  return { key, algorithm: algorithmOf(key, JSON.stringify(path)) };
}

const failure = (reason: TokenFailure['reason'], message: string): TokenFailure => ({ reason, message });

function failureOf(err: unknown, remote: boolean, errors: Jose['errors']): TokenFailure {
  if (err instanceof errors.JWTExpired) return failure('expired', 'token expired');
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return failure('not_yet_valid', 'token not yet valid (nbf)');
    return failure('bad_claims', `token claim "${err.claim}" is not accepted`);
  }
  if (err instanceof errors.JWSSignatureVerificationFailed)
    return failure('bad_signature', 'invalid token signature');
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) {
    return failure('algorithm', 'token algorithm not accepted');
  }
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) {
    return failure('unknown_key', 'no key for this token (kid)');
  }
  // Getting the JWKS failed: timeout, network error (fetch), status not 200 or bad JSON (plain JOSEError).
  if (
    remote &&
    (err instanceof errors.JWKSTimeout ||
      err instanceof errors.JWKSInvalid ||
      !(err instanceof errors.JOSEError) ||
      err.constructor === errors.JOSEError)
  ) {
    return failure('jwks_unavailable', 'token keys unavailable');
  }
  return failure('malformed', 'malformed token');
}

/**
 * Verifies JWTs with the keys `[auth]` configures: the HS256 secret, the PEM public key
 * (its algorithm follows from the key), and the JWKS URL (cached `auth.jwks_cache_ms`,
 * downloaded again on an unknown `kid` at most every `min(jwks_cache_ms, 30 s)`).
 * The header's `alg` picks the key; `none` and HMAC with a public key are never accepted.
 */
export class JwtVerifier {
  private readonly hmac: KeySource | undefined;
  private readonly pem: KeySource | undefined;
  private readonly jwks: KeySource | undefined;
  private readonly audience: string | undefined;
  private readonly issuer: string | undefined;

  constructor(config: AuthConfig) {
    if (config.jwt_hmac_secret !== '') {
      const key = createSecretKey(Buffer.from(config.jwt_hmac_secret, 'utf8'));
      this.hmac = { algorithms: ['HS256'], key: () => key };
    }
    if (config.jwt_public_key !== '') {
      const { key, algorithm } = loadPublicKey(config.jwt_public_key);
      this.pem = { algorithms: [algorithm], key: () => key };
    }
    if (config.jwks_url !== '') {
      const url = new URL(config.jwks_url);
      let keySet: JWTVerifyGetKey | undefined;
      this.jwks = {
        algorithms: JWKS_ALGORITHMS,
        key: (j) => {
          keySet ??= j.createRemoteJWKSet(url, {
            cacheMaxAge: config.jwks_cache_ms,
            cooldownDuration: Math.min(config.jwks_cache_ms, MAX_JWKS_COOLDOWN_MS),
            timeoutDuration: JWKS_TIMEOUT_MS,
          });
          return keySet;
        },
      };
    }
    this.audience = config.jwt_audience || undefined;
    this.issuer = config.jwt_issuer || undefined;
  }

  /** True when some key is configured. */
  get configured(): boolean {
    return this.hmac !== undefined || this.pem !== undefined || this.jwks !== undefined;
  }

  /** Looks like a compact JWS (three base64url parts): worth verifying as a JWT. */
  static looksLikeJwt(text: string): boolean {
    return text.length <= MAX_TOKEN_LENGTH && /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(text);
  }

  async verify(token: string): Promise<TokenClaims | TokenFailure> {
    if (!JwtVerifier.looksLikeJwt(token)) return failure('malformed', 'malformed token');
    const j = await loadJose();
    let alg: unknown;
    try {
      alg = j.decodeProtectedHeader(token).alg;
    } catch {
      return failure('malformed', 'malformed token');
    }
    if (typeof alg !== 'string') return failure('malformed', 'malformed token');
    const sources = [this.hmac, this.pem, this.jwks].filter(
      (s): s is KeySource => s?.algorithms.includes(alg) === true,
    );
    if (sources.length === 0) return failure('algorithm', 'token algorithm not accepted');
    let last: TokenFailure = failure('bad_signature', 'invalid token signature');
    for (const source of sources) {
      let payload: JWTPayload;
      try {
        ({ payload } = await j.jwtVerify(token, source.key(j) as KeyObject, {
          algorithms: source.algorithms,
          audience: this.audience,
          issuer: this.issuer,
          clockTolerance: 0,
        }));
      } catch (err) {
        last = failureOf(err, source === this.jwks, j.errors);
        // With both a PEM key and a JWKS, a signature the first does not verify may be the other's.
        if (last.reason === 'bad_signature' || last.reason === 'unknown_key') continue;
        return last;
      }
      return claimsOf(payload);
    }
    return last;
  }
}

function claimsOf(payload: JWTPayload): TokenClaims | TokenFailure {
  const sub = payload.sub;
  if (typeof sub !== 'string' || sub.length === 0) return failure('bad_claims', 'token has no "sub"');
  const raw = payload.channels;
  let channels: string[] | undefined;
  if (raw !== undefined && raw !== null) {
    if (!Array.isArray(raw) || raw.some((c) => typeof c !== 'string' || filterProblem(c) !== undefined)) {
      return failure('bad_claims', 'token claim "channels" must be a list of channel filters');
    }
    channels = raw.length === 0 ? undefined : (raw as string[]);
  }
  return {
    user: sub,
    channels,
    expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : undefined,
  };
}

export function isTokenFailure(result: TokenClaims | TokenFailure): result is TokenFailure {
  return 'reason' in result;
}
