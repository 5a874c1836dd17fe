import { createHash } from 'node:crypto';
import type { PulseConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import type { AuthStats } from './auth-stats.js';

export type HookName = 'connect' | 'subscribe' | 'publish';
export type Protocol = 'native' | 'json' | 'mqtt';

/**
 * The question a hook is asked: the JSON body POSTed to `[hooks] *_url`, and the argument of
 * the library hooks (`new PulseServer(config, { hooks })`). See docs/SECURITY.md, "Auth hooks".
 */
export interface HookRequest {
  action: HookName;
  protocol: Protocol;
  /** MQTT: the client id. */
  client_id?: string;
  /** Native and JSON: the connection id. */
  connection_id?: string;
  /** The authenticated user, when there is one. */
  user?: string;
  remote_address: string;
  /** connect (native, JSON): the token the client sent. */
  token?: string;
  /** connect (MQTT): the user name the client sent. */
  username?: string;
  /** connect (MQTT), only with auth.enabled = false (Pulse checks passwords itself otherwise). */
  password?: string;
  /** subscribe: the filter as sent (`$share/...` included); publish: the channel. */
  channel?: string;
}

/** A hook's answer. */
export interface HookResult {
  result: 'allow' | 'deny';
  /** connect: the user of the connection from now on. */
  user?: string;
  /** connect: the channels the connection may use (MQTT filters), replacing the token's or the ACL's. */
  channels?: string[];
  /** connect: returned to native and JSON clients in their connect reply. */
  info?: Record<string, unknown>;
  /** deny: told to the client. */
  message?: string;
}

/** Library hooks: TypeScript functions that take precedence over the `[hooks]` URLs. */
export interface AuthHooks {
  connect?(request: HookRequest): HookResult | Promise<HookResult>;
  subscribe?(request: HookRequest): HookResult | Promise<HookResult>;
  publish?(request: HookRequest): HookResult | Promise<HookResult>;
}

/** A hook that could not answer: fails closed. `reason` labels pulse_auth_hook_failures_total. */
export class HookFailure {
  constructor(
    readonly reason: 'timeout' | 'status' | 'bad_response' | 'network' | 'error',
    readonly detail: string,
  ) {}
}

type Caller = (request: HookRequest) => Promise<HookResult | HookFailure>;

/** Most answers kept by the subscribe/publish cache; the oldest go first past it. */
export const HOOK_CACHE_LIMIT = 10_000;
/** Expired entries dropped per insertion at most (the sweep is amortised over insertions). */
const SWEEP_STEP = 8;

function validResult(value: unknown): HookResult | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (v.result !== 'allow' && v.result !== 'deny') return undefined;
  if (v.user !== undefined && typeof v.user !== 'string') return undefined;
  if (v.message !== undefined && typeof v.message !== 'string') return undefined;
  if (
    v.channels !== undefined &&
    (!Array.isArray(v.channels) || v.channels.some((c) => typeof c !== 'string'))
  ) {
    return undefined;
  }
  if (v.info !== undefined && (typeof v.info !== 'object' || v.info === null || Array.isArray(v.info))) {
    return undefined;
  }
  return v as unknown as HookResult;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | HookFailure> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(new HookFailure('timeout', `no answer within ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err) => {
        clearTimeout(timer);
        resolve(new HookFailure('error', (err as Error)?.message ?? String(err)));
      },
    );
  });
}

function httpCaller(url: string, timeoutMs: number): Caller {
  return async (request) => {
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(request),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      const e = err as Error;
      if (e.name === 'TimeoutError' || e.name === 'AbortError') {
        return new HookFailure('timeout', `no answer within ${timeoutMs} ms`);
      }
      const cause = (e as { cause?: { code?: string } }).cause?.code;
      return new HookFailure('network', cause ?? e.message);
    }
    let body: unknown;
    try {
      const text = await response.text();
      if (response.status < 200 || response.status > 299) {
        return new HookFailure('status', `HTTP ${response.status}`);
      }
      body = JSON.parse(text);
    } catch (err) {
      const e = err as Error;
      if (e.name === 'TimeoutError' || e.name === 'AbortError') {
        return new HookFailure('timeout', `no answer within ${timeoutMs} ms`);
      }
      return new HookFailure('bad_response', 'the answer is not JSON');
    }
    return (
      validResult(body) ??
      new HookFailure('bad_response', 'the answer is not {"result": "allow"|"deny", ...}')
    );
  };
}

function libraryCaller(fn: NonNullable<AuthHooks[HookName]>, timeoutMs: number): Caller {
  return async (request) => {
    let answer: HookResult | Promise<HookResult>;
    try {
      answer = fn(request);
    } catch (err) {
      return new HookFailure('error', (err as Error)?.message ?? String(err));
    }
    const result = await withTimeout(Promise.resolve(answer), timeoutMs);
    if (result instanceof HookFailure) return result;
    return (
      validResult(result) ??
      new HookFailure('bad_response', 'the answer is not {result: "allow"|"deny", ...}')
    );
  };
}

interface CacheEntry {
  result: HookResult;
  expiresAt: number;
}

/**
 * The three hooks, each a library function or an HTTP URL (or absent). Subscribe and publish
 * answers of the URL hooks are cached per (identity, action, channel) for `hooks.cache_ttl_ms`
 * (keyed by a SHA-256 of the three, at most HOOK_CACHE_LIMIT entries, expired ones swept as
 * new ones come); the same question asked while it is being answered waits for that answer.
 * Failures are not cached, and neither are the answers of library hooks.
 */
export class Hooks {
  private readonly callers: Partial<Record<HookName, Caller>> = {};
  private readonly library = new Set<HookName>();
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inFlight = new Map<string, Promise<HookResult | HookFailure>>();
  private readonly ttlMs: number;
  private readonly lastLogged = new Map<string, number>();

  constructor(
    config: PulseConfig['hooks'],
    library: AuthHooks | undefined,
    private readonly stats: AuthStats,
    private readonly log: Logger,
    private readonly cacheLimit = HOOK_CACHE_LIMIT,
  ) {
    this.ttlMs = config.cache_ttl_ms;
    const urls: Record<HookName, string> = {
      connect: config.connect_url,
      subscribe: config.subscribe_url,
      publish: config.publish_url,
    };
    for (const name of ['connect', 'subscribe', 'publish'] as const) {
      const fn = library?.[name];
      if (fn) {
        this.callers[name] = libraryCaller(fn.bind(library), config.timeout_ms);
        this.library.add(name);
      } else if (urls[name] !== '') this.callers[name] = httpCaller(urls[name], config.timeout_ms);
    }
  }

  has(name: HookName): boolean {
    return this.callers[name] !== undefined;
  }

  /** Entries in the subscribe/publish answer cache (tests). */
  get cacheSize(): number {
    return this.cache.size;
  }

  get any(): boolean {
    return this.has('connect') || this.has('subscribe') || this.has('publish');
  }

  /** Asks the hook (which must exist); never rejects. */
  async ask(request: HookRequest): Promise<HookResult | HookFailure> {
    const name = request.action;
    const caller = this.callers[name] as Caller;
    this.stats.count(this.stats.hookCalls, name);
    const result = await caller(request);
    if (result instanceof HookFailure) {
      const key = `${name}|${result.reason}`;
      this.stats.count(this.stats.hookFailures, key);
      // At most one line per hook and reason a second: an outage must not flood the log.
      const now = Date.now();
      if ((this.lastLogged.get(key) ?? 0) + 1000 <= now) {
        this.lastLogged.set(key, now);
        this.log.warn({ hook: name, reason: result.reason, detail: result.detail }, 'auth hook failed');
      }
    }
    return result;
  }

  /**
   * A subscribe/publish decision: the cached answer (synchronously) when there is a fresh
   * one, else a promise of the hook's. `identity` is the user, or the client/connection id.
   */
  decide(request: HookRequest, identity: string): HookResult | Promise<HookResult | HookFailure> {
    // A library hook is asked every time (docs/SECURITY.md): the function can keep its own cache.
    if (this.library.has(request.action)) return this.ask(request);
    const key = createHash('sha256')
      .update(`${request.action}\u0000${identity.length}\u0000${identity}\u0000`)
      .update(request.channel ?? '')
      .digest('base64');
    if (this.ttlMs > 0) {
      const hit = this.cache.get(key);
      if (hit !== undefined) {
        if (hit.expiresAt > Date.now()) {
          this.stats.count(this.stats.hookCacheHits, request.action);
          return hit.result;
        }
        this.cache.delete(key);
      }
    }
    const pending = this.inFlight.get(key);
    if (pending !== undefined) return pending;
    const asked = this.ask(request).then((result) => {
      this.inFlight.delete(key);
      if (!(result instanceof HookFailure) && this.ttlMs > 0) this.remember(key, result);
      return result;
    });
    this.inFlight.set(key, asked);
    return asked;
  }

  /**
   * Entries are kept in insertion order, which (one TTL for all) is the order they expire in:
   * each insertion drops a few expired ones from the front, and the oldest past the limit.
   */
  private remember(key: string, result: HookResult): void {
    const now = Date.now();
    let swept = 0;
    for (const [oldKey, entry] of this.cache) {
      if (entry.expiresAt > now || swept >= SWEEP_STEP) break;
      this.cache.delete(oldKey);
      swept++;
    }
    this.cache.delete(key);
    while (this.cache.size >= this.cacheLimit) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
    this.cache.set(key, { result, expiresAt: now + this.ttlMs });
  }
}
