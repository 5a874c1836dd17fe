import { answer, answerSubscribe } from '../channels/answer-later.js';
import { type Message, Publication, Refusal, type StreamPosition, type Subscriber } from '@pulse/core';
import { PROTOCOL_VERSION } from '@pulse/protocol';
import type { Access, AuthDecision, ConnectionInfo, Verdict } from '../auth/auth-service.js';
import { type GateOwner, SessionGate, decide, dropForbidden } from '../auth/session-gate.js';
import type { ClientMatch, ConnectionHandler } from '../transport/connection.js';
import type { TextHandler, WsConnection } from '../transport/ws-connection.js';
import type { JsonAuth } from './json-auth.js';
import { jsonRateLimited } from './json-refusals.js';
import type { ChannelOperations } from '../channels/channel-operations.js';
import { historyReplyBudget } from '../channels/history-budget.js';
import { rightNeeded } from '../channels/operation-rights.js';
import { historyPageMembers, jsonWireBytes, textFrame, toJson } from './json-encoding.js';
import { jsonPresenceData } from '../presence/presence-data.js';
import {
  JsonCode,
  type JsonId,
  type JsonRequest,
  JsonRequestError,
  jsonCodeOf,
  parseRequest,
} from './json-messages.js';
import type { JsonStats } from './json-stats.js';
import { ReplyOrder } from './reply-order.js';

export interface JsonContext {
  readonly channels: ChannelOperations;
  readonly stats: JsonStats;
  readonly auth: JsonAuth;
  /** limits.max_message_size: the most bytes a published `data` may have as JSON text. */
  readonly maxMessageSize: number;
  /** Longest text message parsed; longer ones are refused with 413 unread. */
  readonly maxRequestBytes: number;
  readonly heartbeatIntervalMs: number;
  /** Outbound budget of a connection; recovered publications must fit in it. */
  readonly maxOutboundBytes: number;
}

const PING_PUSH = textFrame('{"method":"ping"}');

/**
 * The JSON protocol (docs/PROTOCOL.md, "JSON protocol") on the text side of one WebSocket. It shares the
 * connection id of the socket's native session but is a subscriber of its own: its
 * subscriptions are delivered as text pushes, the native session's as binary frames.
 *
 * It exists only once the socket has sent a text message (see `jsonTextHandler`): it then
 * takes over as the connection's handler, passes binary messages straight to the native
 * session, and answers for both on close, heartbeat and shutdown. Native-only sockets never
 * see it. It pairs with the native session through ConnectionHandler alone (its goodbyes, its
 * `label`, which is the connection id); the handshake deadline is the socket's own.
 */
export class JsonSession implements Subscriber, ConnectionHandler, TextHandler, GateOwner<Buffer> {
  filters: string[] | undefined;
  presenceChannels: Set<string> | undefined;
  deliveryRound = 0;
  user: string | undefined;
  private authenticated: boolean;
  /** Access, token expiry and requests held behind a pending decision; only with auth or hooks on. */
  private gate: SessionGate<Buffer> | undefined;
  /** Made when a reply first has to wait (a clustered subscribe). */
  private replies: ReplyOrder | undefined;

  constructor(
    readonly id: string,
    readonly connection: WsConnection,
    private readonly ctx: JsonContext,
    /** The handler the connection had before (the native session), kept for binary messages and goodbyes. */
    private readonly native: ConnectionHandler | undefined,
  ) {
    this.authenticated = !ctx.auth.required;
    if (ctx.auth.required || ctx.auth.anonymous !== undefined) {
      this.gate = new SessionGate<Buffer>(this, this.authenticated, this.connection.inputBudget);
      if (this.authenticated) this.gate.access = ctx.auth.anonymous?.(this.who());
    }
    connection.handler = this;
    connection.textHandler = this;
  }

  // --- authentication (only with a gate) ----------------------------------------------------

  get label(): string {
    return this.id;
  }

  get stopped(): boolean {
    return this.connection.closing;
  }

  process(data: Buffer): void {
    this.onText(this.connection, data);
  }

  failed(err: unknown): void {
    this.connection.noteFault('auth', err);
    this.sendError(null, JsonCode.Internal, 'internal error');
  }

  private who(): ConnectionInfo {
    return { protocol: 'json', id: this.id, remoteAddress: this.connection.remoteAddress };
  }

  private connect(id: JsonId, token: string | undefined): void {
    const decision = this.ctx.auth.authenticate(token, this.who());
    if (!(decision instanceof Promise)) return this.connectDecided(id, decision);
    this.gate ??= new SessionGate<Buffer>(this, this.authenticated, this.connection.inputBudget);
    this.gate.wait(decision, (d) => this.connectDecided(id, d));
  }

  /** A refused connect gets 401 (500 when a hook failed) and changes nothing; the client may try again. */
  private connectDecided(id: JsonId, decision: AuthDecision): void {
    if (!decision.allowed) {
      const code = decision.code === undefined ? JsonCode.Unauthorized : jsonCodeOf(decision.code);
      return this.sendError(id, code, decision.message);
    }
    this.authenticated = true;
    this.user = decision.user;
    if (decision.access !== undefined || decision.expiresAt !== undefined) {
      this.gate ??= new SessionGate<Buffer>(this, true, this.connection.inputBudget);
    }
    if (this.gate !== undefined) {
      this.gate.authenticated = true;
      this.gate.access = decision.access;
      this.gate.expireAt(decision.expiresAt, () => this.tokenExpired());
    }
    // A refreshed token may allow less: what it no longer allows is left before anything else.
    dropForbidden(this.ctx.channels.broker, this, decision.access);
    // The socket is authenticated, whichever of its protocols did it.
    this.connection.handshakeDone();
    this.reply(
      id,
      toJson({
        connected: true,
        client: this.id,
        version: PROTOCOL_VERSION,
        heartbeat: this.ctx.heartbeatIntervalMs,
        info: decision.info,
      }),
    );
  }

  /** The token's `exp` has come: a `disconnect` push, then the close. */
  private tokenExpired(): void {
    this.sendDisconnect('token expired');
    this.connection.close('normal', 'token expired');
  }

  /** Runs `go` once `verdict` allows it; a refusal is answered with its error (403, or 500 when a hook failed). */
  private when(verdict: Verdict, id: JsonId, go: () => void): void {
    decide(this.gate, verdict, go, (refusal) => this.refuse(id, refusal));
  }

  /** Authorization of one request: true when it has been answered here, or will be once allowed. */
  private guarded(access: Access, r: JsonRequest): boolean {
    const channel = (r as { channel?: string }).channel;
    const right = channel === undefined ? undefined : rightNeeded(r.method, channel);
    if (right === undefined) return false;
    this.when(access.check(right, channel as string), r.id, () => this.perform(r));
    return true;
  }

  deliver(message: Message): void {
    if (this.connection.enqueue(jsonWireBytes(message), true)) this.ctx.stats.pushesOut++;
  }

  onText(_connection: WsConnection, data: Buffer): void {
    const gate = this.gate;
    if (gate !== undefined && gate.held !== undefined) {
      // A decision is pending: this request waits its turn behind it.
      if (!gate.hold(data)) {
        this.sendError(null, JsonCode.TooMany, 'too many requests waiting for an authorization');
        this.connection.close('overloaded', 'too many requests waiting');
      }
      return;
    }
    let id: JsonId | null = null;
    try {
      const stats = this.ctx.stats;
      const request = parseRequest(data, this.ctx.maxRequestBytes);
      if (request instanceof JsonRequestError) {
        stats.countRequest(request.method);
        return this.sendError(request.id, request.code, request.message);
      }
      stats.countRequest(request.method);
      id = request.id;
      if (this.connection.limiter && jsonRateLimited(this, request.method, id)) return;
      if (!this.authenticated && request.method !== 'connect' && request.method !== 'ping') {
        return this.sendError(id, JsonCode.Unauthorized, 'not authenticated: send connect first');
      }
      this.dispatch(request);
    } catch (err) {
      // A bug, or a store that failed under us: the client gets a 500, never a crash.
      this.connection.noteFault('data', err);
      this.sendError(id, JsonCode.Internal, 'internal error');
    }
  }

  onInvalidText(_connection: WsConnection, reason: string): void {
    invalidText(this.connection, this.ctx.stats, reason);
  }

  onBytes(data: Buffer): void {
    this.native?.onBytes(data);
  }

  onClosed(): void {
    this.gate?.close();
    try {
      this.native?.onClosed();
    } finally {
      this.ctx.channels.leaveAll(this);
    }
  }

  /** Silent client: a JSON `ping` push (answered by any message, e.g. a `ping` request) and the native ping. */
  sendPing(): void {
    this.connection.enqueue(PING_PUSH, false);
    this.native?.sendPing();
  }

  onTimeout(): void {
    this.sendDisconnect('heartbeat timeout');
    if (this.native) this.native.onTimeout();
    else this.connection.close('going-away', 'heartbeat timeout');
  }

  /** Not authenticated by the handshake deadline: said as the JSON push, since this socket spoke JSON. */
  onHandshakeTimeout(): void {
    const message = 'no connect with a valid token in time';
    this.sendDisconnect(message);
    this.connection.close('normal', message);
  }

  goAway(): void {
    this.sendDisconnect('server shutting down');
    if (this.native) this.native.goAway();
    else this.connection.close('going-away', 'server shutting down');
  }

  /** Its own id and user, or the socket's native session's (one socket, two protocols). */
  matches(match: ClientMatch): boolean {
    if (match.connectionId === this.id || (match.user !== undefined && match.user === this.user)) return true;
    return this.native?.matches(match) ?? false;
  }

  /** Closed by the operator (HTTP API): the `disconnect` push, then the native goodbye and close. */
  kick(reason: string): void {
    this.sendDisconnect(reason);
    if (this.native) this.native.kick(reason);
    else this.connection.close('normal', reason);
  }

  private dispatch(r: JsonRequest): void {
    const access = this.gate?.access;
    if (access !== undefined && this.guarded(access, r)) return;
    this.perform(r);
  }

  private perform(r: JsonRequest): void {
    const channels = this.ctx.channels;
    switch (r.method) {
      case 'connect':
        return this.connect(r.id, r.token);
      case 'subscribe':
        return this.subscribe(r.id, r.channel, r.recover);
      case 'unsubscribe': {
        const refusal = channels.unsubscribe(this, r.channel);
        if (refusal) return this.refuse(r.id, refusal);
        return this.reply(r.id, '{}');
      }
      case 'publish':
        return this.publish(r.id, r.channel, r.data, r.event, r.base64);
      case 'presence': {
        const sync = channels.presenceSync(r.channel, this.ctx.maxOutboundBytes);
        if (sync instanceof Refusal) return this.refuse(r.id, sync);
        const more = sync.truncated ? ',"truncated":true' : '';
        return this.reply(r.id, `{"presence":${toJson(sync.members)}${more}}`);
      }
      case 'presence_join':
      case 'presence_update':
      case 'presence_leave': {
        const refusal =
          r.method === 'presence_leave'
            ? channels.presenceLeave(this, r.channel)
            : channels.setPresence(this, r.channel, r.method === 'presence_join', jsonPresenceData(r.data));
        if (refusal) return this.refuse(r.id, refusal);
        return this.reply(r.id, '{}');
      }
      case 'history':
        return this.history(r.id, r.channel, r.since, r.limit);
      case 'ping':
        return this.reply(r.id, '{}');
    }
  }

  /**
   * `data` goes out as its compact JSON text, UTF-8, or with `base64` as the bytes it encodes
   * (docs/PROTOCOL.md, "Payloads across protocols").
   */
  private publish(
    id: JsonId,
    channel: string,
    data: unknown,
    event: string | undefined,
    base64: boolean,
  ): void {
    const payload = base64
      ? Buffer.from(data as string, 'base64')
      : Buffer.from(JSON.stringify(data), 'utf8');
    if (payload.length > this.ctx.maxMessageSize) {
      return this.sendError(
        id,
        JsonCode.TooLarge,
        `data of ${payload.length} bytes exceeds ${this.ctx.maxMessageSize}`,
      );
    }
    const publication = new Publication({ channel, payload, event, publisher: this.id });
    answer(this.ctx.channels.publish(publication), this, (result) => {
      if (result instanceof Refusal) return this.refuse(id, result);
      this.reply(id, '{}');
    });
  }

  /**
   * The reply to a subscribe that went through, with the channel's position when it keeps
   * history. With `recover`, the missed publications follow the reply in this same turn,
   * before any live one can: nothing is lost or sent twice between them (as native).
   */
  private subscribe(id: JsonId, channel: string, recover: StreamPosition | undefined): void {
    const recovery = this.ctx.channels.subscribe(
      this,
      channel,
      recover,
      jsonWireBytes,
      // What the budget has room for: replies may not take the connection past twice the budget.
      this.ctx.maxOutboundBytes - this.connection.outboundBytes,
    );
    answerSubscribe(recovery, this, (recovery) => {
      if (recovery instanceof Refusal) return this.refuse(id, recovery);
      const { ack, replay } = recovery;
      // Clustered: answered once the engine holds the new interest (as native); later replies wait.
      const inForce = replay.length === 0 ? this.ctx.channels.interestInForce() : undefined;
      if (inForce !== undefined) {
        this.replies ??= new ReplyOrder((text) => this.connection.sendText(text));
        const answer = this.replies.later();
        const connection = this.connection;
        inForce.then(() => connection.contain('timer', () => answer(replyText(id, toJson(ack)))));
        return;
      }
      this.reply(id, toJson(ack));
      // A reply to the client's own request: not dropped by the slow-consumer policy.
      for (const p of replay) if (this.connection.enqueue(p, false)) this.ctx.stats.pushesOut++;
    });
  }

  private history(
    id: JsonId,
    channel: string,
    since: { offset: number; epoch: string } | undefined,
    limit: number | undefined,
  ): void {
    answer(this.ctx.channels.readHistory(channel, since, limit), this, (page) => {
      if (page instanceof Refusal) return this.refuse(id, page);
      if (page === undefined) {
        return this.sendError(id, JsonCode.NotFound, `channel ${channel} keeps no history`);
      }
      // The reply must fit the connection's outbound budget: keep the oldest (paging forward
      // from `since`) or the newest entries that do, always at least one.
      const budget = historyReplyBudget(this.ctx.maxOutboundBytes);
      this.reply(id, `{${historyPageMembers(page, since !== undefined, budget)}}`);
    });
  }

  private refuse(id: JsonId, refusal: Refusal): void {
    this.sendError(id, jsonCodeOf(refusal.code), refusal.message);
  }

  /** `result` is JSON text. */
  private reply(id: JsonId, result: string): void {
    this.ordered(replyText(id, result));
  }

  sendError(id: JsonId | null, code: number, message: string): void {
    this.ctx.stats.countError(code);
    this.ordered(JSON.stringify({ id, error: { code, message } }));
  }

  /** A reply, after those still awaited (ReplyOrder). */
  private ordered(text: string): void {
    if (this.replies === undefined) return this.connection.sendText(text);
    if (this.replies.reply(text)) return;
    this.connection.close('overloaded', 'too many replies waiting');
  }

  /** The `disconnect` push (the caller closes); also the native session's goodbye once JSON was spoken. */
  sendDisconnect(reason: string): void {
    this.connection.sendText(JSON.stringify({ method: 'disconnect', params: { reason } }));
  }
}

const replyText = (id: JsonId, result: string): string => `{"id":${JSON.stringify(id)},"result":${result}}`;

/** A text message that is not UTF-8: error 400, then the WebSocket layer closes with 1007 (RFC 6455 §8.1). */
function invalidText(connection: WsConnection, stats: JsonStats, reason: string): void {
  stats.countError(JsonCode.BadRequest);
  connection.sendText(JSON.stringify({ id: null, error: { code: JsonCode.BadRequest, message: reason } }));
}

/**
 * The text handler of every `/ws` connection: on the first text message it creates the
 * socket's JsonSession (same connection id as its native session), which handles that
 * message and every later one. One object per server, so a native-only socket costs nothing.
 */
export function jsonTextHandler(ctx: JsonContext, newConnectionId: () => string): TextHandler {
  return {
    onText(connection, data) {
      const native = connection.handler;
      // A native session's label is its connection id: one socket, one id.
      const id = native?.label ?? newConnectionId();
      new JsonSession(id, connection, ctx, native).onText(connection, data);
    },
    onInvalidText(connection, reason) {
      invalidText(connection, ctx.stats, reason);
    },
  };
}
