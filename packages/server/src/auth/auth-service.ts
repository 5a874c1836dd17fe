import type { Socket } from 'node:net';
import { Refusal } from '@pulse/core';
import { ErrorCode } from '@pulse/protocol';
import type { AuthUserConfig } from '../config/auth.js';
import type { PulseConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import { AuthStats } from './auth-stats.js';
import { verifiedCertificateName } from './certificate-name.js';
import { AuthConfigError } from './errors.js';
import {
  type AuthHooks,
  HookFailure,
  type HookRequest,
  type HookResult,
  Hooks,
  type Protocol,
} from './hooks.js';
import { JwtVerifier, MAX_TOKEN_LENGTH, isTokenFailure } from './jwt.js';
import { PasswordChecks, type ScryptHash, hashPassword, parsePasswordHash } from './passwords.js';
import { type Action, type Rights, UNRESTRICTED, aclRights, allowlist, filterProblem } from './rights.js';
import { effectiveFilter } from './topic-cover.js';

/** Who is asking: one connection of one protocol. */
export interface ConnectionInfo {
  protocol: Protocol;
  /** The connection id (native, JSON) or the MQTT client id. */
  id: string;
  remoteAddress: string;
}

/** undefined: allowed; a Refusal (1004 Forbidden, or 1011 when a hook failed); or a promise of either. */
export type Verdict = Refusal | undefined | Promise<Refusal | undefined>;

/** The outcome of a native or JSON `connect`. */
export type AuthDecision =
  | {
      allowed: true;
      user?: string;
      /** What the connection may do; undefined: everything, unchecked. */
      access?: Access;
      /** When the token expires (epoch ms): the connection is closed then. */
      expiresAt?: number;
      /** From the connect hook, returned in the connect reply. */
      info?: Record<string, unknown>;
    }
  | {
      allowed: false;
      message: string;
      /** 1003 Unauthorized by default; 1011 ServerError when a hook failed. */
      code?: number;
    };

/** How native and JSON sessions authenticate: the seam the sessions depend on. */
export interface SessionAuth {
  /** True: nothing but connect and ping until a connect is allowed. */
  readonly required: boolean;
  authenticate(token: string | undefined, who?: ConnectionInfo): AuthDecision | Promise<AuthDecision>;
  /** The access of a connection that need not authenticate (auth off, but hooks on); undefined: unchecked. */
  anonymous?(who: ConnectionInfo): Access | undefined;
}

/** Why an MQTT CONNECT is refused: bad credentials (0x86 / 4), not authorized (0x87 / 5), a hook down (0x88 / 3). */
export type MqttRefusal = 'credentials' | 'not_authorized' | 'unavailable';

export type MqttAuthResult =
  | { ok: true; user: string | undefined; access: Access | undefined; expiresAt: number | undefined }
  | { ok: false; refusal: MqttRefusal; message: string };

export interface MqttCredentials {
  clientId: string;
  username: string | undefined;
  password: Buffer | undefined;
  socket: Socket;
  remoteAddress: string;
}

const HOOK_UNAVAILABLE = 'auth hook unavailable';

/** The client's connection is gone (closed or half-closed): a waiting password check is skipped. */
const cancelled = (socket: Socket): boolean => socket.destroyed || !socket.writable || socket.readableEnded;

/** One authenticated (or anonymous) identity before the connect hook. */
interface Identity {
  user: string | undefined;
  rights: Rights;
  expiresAt: number | undefined;
}

type Failure = { ok: false; refusal: MqttRefusal; reason: string; message: string };
type Outcome = { ok: true; identity: Identity; info?: Record<string, unknown> } | Failure;

const fail = (refusal: MqttRefusal, reason: string, message: string): Failure => ({
  ok: false,
  refusal,
  reason,
  message,
});

interface UserEntry {
  /** The stored hash; for a plain-text password, its scrypt hash made at start-up. */
  hash: Promise<ScryptHash>;
}

/** A hash made in the background at start-up: its failure is seen where it is awaited. */
function background(hash: Promise<ScryptHash>): Promise<ScryptHash> {
  hash.catch(() => {});
  return hash;
}

const BUSY = 'server busy: too many password checks waiting';

/**
 * Authentication and authorization for every protocol (docs/SECURITY.md): JWTs, MQTT users
 * and ACLs, client certificate identities, and the auth hooks. One per server. When it is not
 * `active` (auth off, no hooks) the server hands sessions nothing, so they check nothing.
 */
export class AuthService implements SessionAuth {
  readonly stats = new AuthStats();
  readonly enabled: boolean;
  readonly required: boolean;
  readonly active: boolean;
  readonly hooks: Hooks;
  private readonly jwt: JwtVerifier;
  private readonly users = new Map<string, UserEntry>();
  private readonly acl: PulseConfig['auth']['acl'];
  private readonly jwtMqttPassword: boolean;
  private readonly identityAsUsername: boolean;
  /** Verified against for an unknown user name, so that its answer takes as long as a known one's. */
  private readonly dummyHash: Promise<ScryptHash> | undefined;
  private readonly passwords = new PasswordChecks();

  constructor(
    config: PulseConfig,
    private readonly log: Logger,
    library?: AuthHooks,
  ) {
    const auth = config.auth;
    this.enabled = auth.enabled;
    this.jwt = new JwtVerifier(auth);
    this.acl = auth.acl;
    this.hooks = new Hooks(config.hooks, library, this.stats, log);
    this.required = this.enabled || this.hooks.has('connect');
    this.active = this.enabled || this.hooks.any;
    this.jwtMqttPassword = auth.jwt_mqtt_password && this.jwt.configured;
    this.identityAsUsername = config.tls.use_identity_as_username;
    auth.users.forEach((user, i) => {
      this.addUser(user, i);
    });
    if (this.users.size > 0) this.dummyHash = background(AuthService.hash('pulse-dummy'));
    if (this.enabled) {
      if (!this.jwt.configured && !this.hooks.has('connect')) {
        log.warn(
          'auth: no JWT key is configured (jwt_hmac_secret, jwt_public_key, jwks_url): native and JSON clients cannot authenticate',
        );
      }
      if (auth.users.length > 0 && auth.acl.length === 0) {
        log.warn(
          'auth: [[auth.users]] but no [[auth.acl]] rules: MQTT users may neither publish nor subscribe',
        );
      }
    }
  }

  private addUser(user: AuthUserConfig, index: number): void {
    if (user.password_hash !== '') {
      const parsed = parsePasswordHash(user.password_hash);
      if (typeof parsed === 'string') {
        throw new AuthConfigError(`auth.users[${index}].password_hash (${user.username}): ${parsed}`);
      }
      this.users.set(user.username, { hash: Promise.resolve(parsed) });
    } else {
      this.log.warn(
        { user: user.username },
        `auth.users[${index}] has a plain-text password: store a password_hash instead (\`pulse passwd\`)`,
      );
      // Hashed once, so that checking it costs what checking a stored hash costs.
      this.users.set(user.username, { hash: background(AuthService.hash(user.password)) });
    }
  }

  private static async hash(password: string): Promise<ScryptHash> {
    return parsePasswordHash(await hashPassword(password)) as ScryptHash;
  }

  // --- native and JSON -------------------------------------------------------------------

  anonymous(who: ConnectionInfo): Access | undefined {
    return this.accessFor(who, undefined, UNRESTRICTED);
  }

  authenticate(token: string | undefined, who?: ConnectionInfo): AuthDecision | Promise<AuthDecision> {
    const info = who ?? { protocol: 'native', id: '', remoteAddress: '' };
    if (!this.required) return { allowed: true, access: this.anonymous(info) };
    return this.authenticateToken(token, info);
  }

  private async authenticateToken(token: string | undefined, who: ConnectionInfo): Promise<AuthDecision> {
    let outcome: Outcome;
    if (!this.enabled) {
      outcome = { ok: true, identity: { user: undefined, rights: UNRESTRICTED, expiresAt: undefined } };
    } else if (token === undefined || token === '') {
      outcome = fail('not_authorized', 'no_token', 'token required');
    } else if (!this.jwt.configured) {
      outcome = fail('credentials', 'no_jwt_key', 'tokens are not accepted by this server');
    } else {
      outcome = await this.verifyToken(token);
    }
    if (outcome.ok && this.hooks.has('connect')) {
      const request: HookRequest = {
        action: 'connect',
        protocol: who.protocol,
        connection_id: who.id,
        remote_address: who.remoteAddress,
      };
      if (outcome.identity.user !== undefined) request.user = outcome.identity.user;
      if (token !== undefined) request.token = token;
      outcome = await this.connectHook(request, outcome.identity);
    }
    if (!outcome.ok) {
      this.stats.count(this.stats.failures, `${who.protocol}|${outcome.reason}`);
      return {
        allowed: false,
        message: outcome.message,
        code: outcome.refusal === 'unavailable' ? ErrorCode.ServerError : ErrorCode.Unauthorized,
      };
    }
    this.stats.count(this.stats.successes, who.protocol);
    const { user, rights, expiresAt } = outcome.identity;
    return {
      allowed: true,
      user,
      access: this.accessFor(who, user, rights),
      expiresAt,
      info: outcome.info,
    };
  }

  private async verifyToken(token: string): Promise<Outcome> {
    if (token.length > MAX_TOKEN_LENGTH) return fail('credentials', 'malformed', 'malformed token');
    const claims = await this.jwt.verify(token);
    if (isTokenFailure(claims)) return fail('credentials', claims.reason, claims.message);
    return {
      ok: true,
      identity: {
        user: claims.user,
        rights: claims.channels === undefined ? UNRESTRICTED : allowlist(claims.channels),
        expiresAt: claims.expiresAt,
      },
    };
  }

  /** `claimed`: the MQTT user name when the hook alone checks it (auth off): the user unless the hook names one. */
  private async connectHook(request: HookRequest, identity: Identity, claimed?: string): Promise<Outcome> {
    const answer = await this.hooks.ask(request);
    if (answer instanceof HookFailure) return fail('unavailable', 'hook_unavailable', HOOK_UNAVAILABLE);
    if (answer.result === 'deny')
      return fail('not_authorized', 'hook_denied', answer.message ?? 'connection refused');
    const channels = answer.channels;
    if (channels?.some((c) => filterProblem(c) !== undefined)) {
      this.stats.count(this.stats.hookFailures, 'connect|bad_response');
      this.log.warn({ channels }, 'auth hook: connect answer holds channels that are not valid filters');
      return fail('unavailable', 'hook_unavailable', HOOK_UNAVAILABLE);
    }
    return {
      ok: true,
      identity: {
        user: answer.user ?? identity.user ?? claimed,
        rights: channels !== undefined ? allowlist(channels) : identity.rights,
        expiresAt: identity.expiresAt,
      },
      info: answer.info,
    };
  }

  // --- MQTT ------------------------------------------------------------------------------

  /** The CN of a verified client certificate, when `tls.use_identity_as_username` is on. */
  private certificateUser(socket: Socket): string | undefined {
    return this.identityAsUsername ? verifiedCertificateName(socket) : undefined;
  }

  /** Synchronous when nothing needs to be awaited (auth off and no connect hook). */
  authenticateMqtt(c: MqttCredentials): MqttAuthResult | Promise<MqttAuthResult> {
    const who: ConnectionInfo = { protocol: 'mqtt', id: c.clientId, remoteAddress: c.remoteAddress };
    const certUser = this.certificateUser(c.socket);
    if (!this.required) {
      // Nothing checks the user name: hooks get it as the unverified `username`, never as `user`.
      return {
        ok: true,
        user: certUser ?? c.username,
        access: this.accessFor(who, certUser, UNRESTRICTED, certUser === undefined ? c.username : undefined),
        expiresAt: undefined,
      };
    }
    return this.authenticateMqttAsync(c, who, certUser);
  }

  private async authenticateMqttAsync(
    c: MqttCredentials,
    who: ConnectionInfo,
    certUser: string | undefined,
  ): Promise<MqttAuthResult> {
    let outcome: Outcome;
    if (!this.enabled) {
      // Only the connect hook decides: the user name is the user once it allows it.
      outcome = { ok: true, identity: { user: certUser, rights: UNRESTRICTED, expiresAt: undefined } };
    } else if (certUser !== undefined) {
      outcome = { ok: true, identity: this.aclIdentity(certUser, c.clientId) };
    } else {
      outcome = await this.checkMqttPassword(c, () => cancelled(c.socket));
    }
    if (outcome.ok && this.hooks.has('connect')) {
      const request: HookRequest = {
        action: 'connect',
        protocol: 'mqtt',
        client_id: c.clientId,
        remote_address: c.remoteAddress,
      };
      if (outcome.identity.user !== undefined) request.user = outcome.identity.user;
      if (c.username !== undefined) request.username = c.username;
      if (!this.enabled && c.password !== undefined) request.password = c.password.toString('utf8');
      outcome = await this.connectHook(request, outcome.identity, this.enabled ? undefined : c.username);
    }
    if (!outcome.ok) {
      this.stats.count(this.stats.failures, `mqtt|${outcome.reason}`);
      return { ok: false, refusal: outcome.refusal, message: outcome.message };
    }
    this.stats.count(this.stats.successes, 'mqtt');
    const { user, rights, expiresAt } = outcome.identity;
    return { ok: true, user, access: this.accessFor(who, user, rights), expiresAt };
  }

  private aclIdentity(user: string, clientId: string): Identity {
    return { user, rights: aclRights(this.acl, user, clientId), expiresAt: undefined };
  }

  /**
   * A user name and password, or a JWT as the password. Every refusal of a password costs one
   * scrypt check (an unknown user name is checked against a dummy hash), so that the answer's
   * timing does not tell which user names exist; checks are limited (PasswordChecks).
   */
  private async checkMqttPassword(c: MqttCredentials, gone: () => boolean): Promise<Outcome> {
    const { username, password } = c;
    if (username === undefined && password === undefined) {
      return fail('not_authorized', 'no_credentials', 'credentials required');
    }
    const entry = username === undefined ? undefined : this.users.get(username);
    const passwordText = password?.toString('utf8');
    const jwtCandidate =
      this.jwtMqttPassword && passwordText !== undefined && JwtVerifier.looksLikeJwt(passwordText);
    if (entry !== undefined && username !== undefined) {
      if (password !== undefined) {
        const matched = this.passwords.remembers(username, password)
          ? true
          : await this.passwords.verify(password, entry.hash, gone, username);
        if (matched === true) return { ok: true, identity: this.aclIdentity(username, c.clientId) };
        if (matched !== false) return this.skipped(matched);
      }
      if (!jwtCandidate) return fail('credentials', 'bad_password', 'bad user name or password');
      return this.verifyToken(passwordText as string);
    }
    let tokenOutcome: Outcome | undefined;
    if (jwtCandidate) {
      tokenOutcome = await this.verifyToken(passwordText as string);
      if (tokenOutcome.ok) return tokenOutcome;
    }
    if (this.dummyHash !== undefined && password !== undefined) {
      // An unknown user name takes as long to refuse as a wrong password.
      const checked = await this.passwords.verify(password, this.dummyHash, gone);
      if (checked === 'busy' || checked === 'cancelled') return this.skipped(checked);
    }
    return tokenOutcome ?? fail('credentials', 'unknown_user', 'bad user name or password');
  }

  /** A password check refused for lack of room (0x88 / 3) or dropped with its connection. */
  private skipped(why: 'busy' | 'cancelled'): Failure {
    return why === 'busy'
      ? fail('unavailable', 'busy', BUSY)
      : fail('credentials', 'cancelled', 'connection closed');
  }

  // --- authorization -----------------------------------------------------------------------

  /** What a connection may do; undefined when nothing needs checking (no restriction, no hook). */
  private accessFor(
    who: ConnectionInfo,
    user: string | undefined,
    rights: Rights,
    claimed?: string,
  ): Access | undefined {
    if (rights.unrestricted && !this.hooks.has('subscribe') && !this.hooks.has('publish')) return undefined;
    return new Access(this, who, user, rights, claimed);
  }

  denied(protocol: Protocol, action: Action): void {
    this.stats.count(this.stats.denied, `${protocol}|${action}`);
  }
}

/**
 * What one connection may do: its rights (allowlist, ACL or everything), then the
 * subscribe/publish hooks. `check` answers synchronously unless a hook must be asked.
 */
export class Access {
  constructor(
    private readonly service: AuthService,
    readonly who: ConnectionInfo,
    readonly user: string | undefined,
    readonly rights: Rights,
    /** MQTT with auth off and no connect hook: the user name as sent, which nothing has checked. */
    readonly claimedUsername?: string,
  ) {}

  /** The rights alone (no hook): may `channel` (a publish channel or a subscribe filter) be used? */
  allows(action: Action, channel: string): boolean {
    return this.rights.allows(action, action === 'subscribe' ? effectiveFilter(channel) : channel);
  }

  check(action: Action, channel: string): Verdict {
    if (!this.rights.unrestricted && !this.allows(action, channel)) {
      this.service.denied(this.who.protocol, action);
      return new Refusal(ErrorCode.Forbidden, `not allowed to ${action} on ${channel}`);
    }
    const hooks = this.service.hooks;
    if (!hooks.has(action)) return undefined;
    const who = this.who;
    const request: HookRequest = {
      action,
      protocol: who.protocol,
      remote_address: who.remoteAddress,
      channel,
    };
    if (who.protocol === 'mqtt') request.client_id = who.id;
    else request.connection_id = who.id;
    if (this.user !== undefined) request.user = this.user;
    else if (this.claimedUsername !== undefined) request.username = this.claimedUsername;
    // A user is one identity across protocols; a connection id or client id is one per protocol
    // (and, unverified, the user name it claims).
    const identity =
      this.user !== undefined
        ? `@${this.user}`
        : `#${who.protocol}\u0000${who.id}\u0000${this.claimedUsername ?? ''}`;
    const answer = hooks.decide(request, identity);
    if (answer instanceof Promise) return answer.then((a) => this.verdictOf(action, channel, a));
    return this.verdictOf(action, channel, answer);
  }

  private verdictOf(action: Action, channel: string, answer: HookResult | HookFailure): Refusal | undefined {
    if (answer instanceof HookFailure) {
      this.service.denied(this.who.protocol, action);
      return new Refusal(ErrorCode.ServerError, HOOK_UNAVAILABLE);
    }
    if (answer.result === 'allow') return undefined;
    this.service.denied(this.who.protocol, action);
    return new Refusal(ErrorCode.Forbidden, answer.message ?? `not allowed to ${action} on ${channel}`);
  }
}
