import {
  type Broker,
  type Message,
  Publication,
  Refusal,
  type Subscriber,
  checkPublishChannel,
  isWildcardFilter,
} from '@pulse/core';
import { DEFAULT_HISTORY_LIMIT, ErrorCode, PROTOCOL_VERSION } from '@pulse/protocol';
import { NativeSession } from '../native/native-session.js';
import type { ConnectionHandler } from '../transport/connection.js';
import type { FlushScheduler } from '../transport/flush-scheduler.js';
import type { TextHandler, WsConnection } from '../transport/ws-connection.js';
import type { JsonAuth } from './json-auth.js';
import { historyEntry, jsonWireBytes, textFrame, toJson } from './json-encoding.js';
import {
  JsonCode,
  type JsonId,
  type JsonRequest,
  JsonRequestError,
  jsonCodeOf,
  parseRequest,
} from './json-messages.js';
import type { JsonStats } from './json-stats.js';

export interface JsonContext {
  readonly broker: Broker;
  readonly scheduler: FlushScheduler;
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

/** Text a `history` reply holds at most (also capped by limits.max_outbound_bytes). */
const MAX_HISTORY_REPLY_BYTES = 8 * 1024 * 1024;

const PING_PUSH = textFrame('{"method":"ping"}');

/**
 * The JSON protocol (INTERFACE.md §4) on the text side of one WebSocket. It shares the
 * connection id of the socket's native session but is a subscriber of its own: its
 * subscriptions are delivered as text pushes, the native session's as binary frames.
 *
 * It exists only once the socket has sent a text message (see `jsonTextHandler`): it then
 * takes over as the connection's handler, passes binary messages straight to the native
 * session, and answers for both on close, heartbeat and shutdown. Native-only sockets never
 * see it.
 */
export class JsonSession implements Subscriber, ConnectionHandler, TextHandler {
  filters: string[] | undefined;
  presenceChannels: Set<string> | undefined;
  user: string | undefined;
  private authenticated: boolean;

  constructor(
    readonly id: string,
    readonly connection: WsConnection,
    private readonly ctx: JsonContext,
    /** The handler the connection had before (the native session), kept for binary messages. */
    private readonly native: ConnectionHandler | undefined,
  ) {
    this.authenticated = !ctx.auth.required;
    connection.handler = this;
    connection.textHandler = this;
  }

  deliver(message: Message): void {
    if (this.connection.enqueue(jsonWireBytes(message), true)) this.ctx.stats.pushesOut++;
  }

  onText(_connection: WsConnection, data: Buffer): void {
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
      if (!this.authenticated && request.method !== 'connect' && request.method !== 'ping') {
        return this.sendError(id, JsonCode.Unauthorized, 'not authenticated: send connect first');
      }
      this.dispatch(request);
    } catch {
      // A bug, or a store that failed under us: the client gets a 500, never a crash.
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
    try {
      this.native?.onClosed();
    } finally {
      this.ctx.broker.disconnect(this);
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

  goAway(): void {
    this.sendDisconnect('server shutting down');
    if (this.native) this.native.goAway();
    else this.connection.close('going-away', 'server shutting down');
  }

  private dispatch(r: JsonRequest): void {
    const broker = this.ctx.broker;
    switch (r.method) {
      case 'connect': {
        const decision = this.ctx.auth.authenticate(r.token);
        if (!decision.allowed) return this.sendError(r.id, JsonCode.Unauthorized, decision.message);
        this.authenticated = true;
        this.user = decision.user;
        return this.reply(
          r.id,
          toJson({
            connected: true,
            client: this.id,
            version: PROTOCOL_VERSION,
            heartbeat: this.ctx.heartbeatIntervalMs,
          }),
        );
      }
      case 'subscribe': {
        const refusal = broker.subscribe(this, r.channel);
        if (refusal) return this.refuse(r.id, refusal);
        return this.subscribed(r.id, r.channel, r.recover);
      }
      case 'unsubscribe': {
        const refusal = broker.unsubscribe(this, r.channel);
        if (refusal) return this.refuse(r.id, refusal);
        return this.reply(r.id, '{}');
      }
      case 'publish':
        return this.publish(r.id, r.channel, r.data, r.event);
      case 'presence': {
        const members = broker.presenceSync(r.channel);
        if (members instanceof Refusal) return this.refuse(r.id, members);
        return this.reply(r.id, `{"presence":${toJson(members)}}`);
      }
      case 'presence_join':
      case 'presence_update':
      case 'presence_leave': {
        const refusal =
          r.method === 'presence_join'
            ? broker.presenceJoin(this, r.channel, r.data)
            : r.method === 'presence_update'
              ? broker.presenceUpdate(this, r.channel, r.data)
              : broker.presenceLeave(this, r.channel);
        if (refusal) return this.refuse(r.id, refusal);
        return this.reply(r.id, '{}');
      }
      case 'history':
        return this.history(r.id, r.channel, r.since, r.limit);
      case 'ping':
        return this.reply(r.id, '{}');
    }
  }

  /** `data` goes out as its compact JSON text, UTF-8 (INTERFACE.md §6). */
  private publish(id: JsonId, channel: string, data: unknown, event: string | undefined): void {
    const payload = Buffer.from(JSON.stringify(data), 'utf8');
    if (payload.length > this.ctx.maxMessageSize) {
      return this.sendError(
        id,
        JsonCode.TooLarge,
        `data of ${payload.length} bytes exceeds ${this.ctx.maxMessageSize}`,
      );
    }
    const publication = new Publication({ channel, payload, event, publisher: this.id });
    const result = this.ctx.broker.publish(publication);
    if (result instanceof Refusal) return this.refuse(id, result);
    if (result > 0) this.ctx.scheduler.notePublication(publication);
    this.reply(id, '{}');
  }

  /**
   * The reply to a subscribe that went through, with the channel's position when it keeps
   * history. With `recover`, the missed publications follow the reply in this same turn,
   * before any live one can: nothing is lost or sent twice between them (as native).
   */
  private subscribed(
    id: JsonId,
    channel: string,
    recover: { offset: number; epoch: string } | undefined,
  ): void {
    const history = this.ctx.broker.history;
    if (history === undefined || isWildcardFilter(channel) || history.ruleFor(channel) === undefined) {
      return this.reply(id, recover ? '{"recovered":false}' : '{}');
    }
    if (!recover) {
      const position = history.position(channel);
      return this.reply(id, toJson({ offset: position?.offset, epoch: position?.epoch }));
    }
    const result = history.recover(channel, recover, Date.now());
    if (result === undefined) return this.reply(id, '{"recovered":false}');
    const { offset, epoch } = result;
    const pushes = result.publications.map(jsonWireBytes);
    let bytes = 0;
    for (const p of pushes) bytes += p.length;
    if (bytes > this.ctx.maxOutboundBytes) {
      // More than the connection may have waiting: the client reloads its state instead.
      return this.reply(id, toJson({ recovered: false, offset, epoch }));
    }
    this.reply(id, toJson({ recovered: result.recovered, offset, epoch }));
    // A reply to the client's own request: not dropped by the slow-consumer policy.
    for (const p of pushes) if (this.connection.enqueue(p, false)) this.ctx.stats.pushesOut++;
  }

  private history(
    id: JsonId,
    channel: string,
    since: { offset: number; epoch: string } | undefined,
    limit: number | undefined,
  ): void {
    const invalid = checkPublishChannel(channel);
    if (invalid && invalid.code !== ErrorCode.Forbidden) return this.refuse(id, invalid);
    const page =
      invalid === undefined
        ? this.ctx.broker.history?.read(channel, { since, limit: limit ?? DEFAULT_HISTORY_LIMIT }, Date.now())
        : undefined;
    if (page === undefined) {
      return this.sendError(id, JsonCode.NotFound, `channel ${channel} keeps no history`);
    }
    // The reply must fit the connection's outbound budget: keep the oldest (paging forward
    // from `since`) or the newest entries that do, always at least one.
    const budget = Math.min(this.ctx.maxOutboundBytes, MAX_HISTORY_REPLY_BYTES);
    const list = page.publications;
    const fromEnd = since === undefined;
    const entries: string[] = [];
    let size = 0;
    for (let n = 0; n < list.length; n++) {
      const entry = historyEntry(list[fromEnd ? list.length - 1 - n : n]);
      if (n > 0 && size + entry.length > budget) break;
      size += entry.length + 1;
      entries.push(entry);
    }
    if (fromEnd) entries.reverse();
    this.reply(
      id,
      `{"publications":[${entries.join(',')}],"offset":${page.offset},"epoch":${JSON.stringify(page.epoch)}}`,
    );
  }

  private refuse(id: JsonId, refusal: Refusal): void {
    this.sendError(id, jsonCodeOf(refusal.code), refusal.message);
  }

  /** `result` is JSON text. */
  private reply(id: JsonId, result: string): void {
    this.connection.sendText(`{"id":${JSON.stringify(id)},"result":${result}}`);
  }

  private sendError(id: JsonId | null, code: number, message: string): void {
    this.ctx.stats.countError(code);
    this.connection.sendText(JSON.stringify({ id, error: { code, message } }));
  }

  private sendDisconnect(reason: string): void {
    this.connection.sendText(JSON.stringify({ method: 'disconnect', params: { reason } }));
  }
}

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
      const id = native instanceof NativeSession ? native.id : newConnectionId();
      new JsonSession(id, connection, ctx, native).onText(connection, data);
    },
    onInvalidText(connection, reason) {
      invalidText(connection, ctx.stats, reason);
    },
  };
}
