import { within } from './within.js';

/**
 * When a JWT expires (epoch ms), read from its payload's `exp` without verifying it (the
 * server verifies; the client only needs to know when to fetch the next one). undefined when
 * the token is not a JWT or has no numeric `exp`.
 */
export function tokenExpiresAt(token: string): number | undefined {
  return tokenTimes(token)?.expiresAt;
}

/** `exp` and, when the token has one, `iat` of a JWT (epoch ms), read as tokenExpiresAt does. */
export function tokenTimes(token: string): { expiresAt: number; issuedAt?: number } | undefined {
  const part = token.split('.')[1];
  if (part === undefined || part.length === 0 || part.length > 16_384) return undefined;
  try {
    const base64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const text = new TextDecoder().decode(
      Uint8Array.from(atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, '=')), (c) => c.charCodeAt(0)),
    );
    const { exp, iat } = JSON.parse(text) as { exp?: unknown; iat?: unknown };
    if (!isTime(exp)) return undefined;
    return isTime(iat) ? { expiresAt: exp * 1000, issuedAt: iat * 1000 } : { expiresAt: exp * 1000 };
  } catch {
    return undefined;
  }
}

const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * How long to wait before refreshing a token expiring at `expiresAt`: `marginMs` before it,
 * or half the time left when that is shorter than twice the margin (a short-lived token is
 * still refreshed before it lapses), never less than `floorMs`.
 */
export function refreshDelay(expiresAt: number, marginMs: number, now = Date.now(), floorMs = 100): number {
  const left = expiresAt - now;
  const delay = left > 2 * marginMs ? left - marginMs : left / 2;
  return Math.max(floorMs, Math.floor(delay));
}

/**
 * Refreshes the token of one live connection before it expires: at `refreshDelay` before the
 * token's `exp`, fetches a new one with `getToken` and hands it to `apply` (which sends it on
 * the connection), then waits for the new token's turn. A `getToken` that fails, or does not
 * answer within `timeoutMs`, is retried every second (each failure reported to `onError`)
 * until stopped; a failed `apply` (which deals with its own failure) ends the refreshing.
 */
export class TokenRefresher {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  private readonly stopping = new AbortController();

  constructor(
    private readonly getToken: () => Promise<string>,
    private readonly marginMs: number,
    private readonly timeoutMs: number,
    private readonly apply: (token: string) => Promise<void>,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Plans the refresh of `token`, which the server has just accepted (nothing when it carries no `exp`). */
  schedule(token: string): void {
    const times = tokenTimes(token);
    if (times === undefined) return;
    let expiresAt = times.expiresAt;
    const now = Date.now();
    if (expiresAt <= now) {
      // Accepted, yet expired by this device's clock: the clock is ahead of the server's.
      // Refreshing now would do the same with every new token, ten times a second. The
      // token's own lifetime (exp - iat, on the issuer's clock) says when to refresh it;
      // without `iat`, the server's `token expired` close brings one reconnect with a new one.
      const { issuedAt } = times;
      if (issuedAt === undefined || issuedAt >= expiresAt) return;
      expiresAt = now + (expiresAt - issuedAt);
    }
    this.wait(Math.min(refreshDelay(expiresAt, this.marginMs, now), 2 ** 31 - 1));
  }

  stop(): void {
    this.stopped = true;
    this.stopping.abort();
    clearTimeout(this.timer);
  }

  private wait(ms: number): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.run(), ms);
    (this.timer as { unref?: () => void }).unref?.();
  }

  private async run(): Promise<void> {
    let token: string;
    const ms = this.timeoutMs;
    try {
      // Bounded: one that never answers would stop the refreshing, and the connection would
      // be closed when its token expires instead of getting the next one.
      token = await within(
        () => this.getToken(),
        ms,
        `getToken did not answer within ${ms} ms`,
        this.stopping.signal,
      );
    } catch (err) {
      if (this.stopped) return;
      this.onError(err);
      this.wait(1000);
      return;
    }
    if (this.stopped) return;
    try {
      await this.apply(token);
    } catch {
      return;
    }
    this.schedule(token);
  }
}
