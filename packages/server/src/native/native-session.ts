import { answer, answerSubscribe } from '../channels/answer-later.js';
import {
  type HistoryPage,
  type Message,
  Publication,
  Refusal,
  type Subscriber,
  namesChecked,
} from '@pulse/core';
import {
  ErrorCode,
  FRAME_TYPE_IDS,
  type Frame,
  type HistoryFrame,
  FrameError,
  FrameReader,
  type FrameReaderHandler,
  MAX_HEADER_SIZE,
  PROTOCOL_VERSION,
  PresenceAction,
  type PresenceFrame,
  RecentName,
  type SubscribeFrame,
  decodeFrame,
  encodeFrame,
} from '@pulse/protocol';
import type { ClientMatch, Connection, ConnectionHandler } from '../transport/connection.js';
import type { AuthDecision, ConnectionInfo, SessionAuth, Verdict } from '../auth/auth-service.js';
import { type GateOwner, SessionGate, decide, dropForbidden } from '../auth/session-gate.js';
import type { ChannelOperations } from '../channels/channel-operations.js';
import { entriesWithin, historyReplyBudget } from '../channels/history-budget.js';
import { rightNeeded } from '../channels/operation-rights.js';
import { frameTypeIdOf, nativeWireBytes } from './native-encoding.js';
import { nativePresenceData } from '../presence/presence-data.js';
import type { NativeStats } from './native-stats.js';
import { nativeRateLimited } from './native-refusals.js';

export interface NativeContext {
  /** Authentication and authorization; undefined when neither [auth] nor [hooks] is on (nothing checked). */
  readonly auth?: SessionAuth;
  readonly channels: ChannelOperations;
  readonly stats: NativeStats;
  readonly maxMessageSize: number;
  readonly maxFrameSize: number;
  readonly heartbeatIntervalMs: number;
  /** Outbound budget of a connection; recovered publications must fit in it. */
  readonly maxOutboundBytes: number;
}

/** One entry of a `history` ack. */
const historyEntry = (p: Publication): { offset?: number; event?: string; payload: Uint8Array } =>
  p.event === undefined
    ? { offset: p.offset, payload: p.payload }
    : { offset: p.offset, event: p.event, payload: p.payload };

/**
 * The native protocol (docs/PROTOCOL.md) on one connection: turns frames into broker calls
 * and broker deliveries into frames. Knows nothing of sockets beyond `Connection`.
 */
export class NativeSession implements Subscriber, ConnectionHandler, FrameReaderHandler, GateOwner<Buffer> {
  filters: string[] | undefined;
  presenceChannels: Set<string> | undefined;
  deliveryRound = 0;
  /** The authenticated user (the token's `sub`, or the connect hook's `user`). */
  user: string | undefined;
  private readonly reader: FrameReader;
  /** Authentication state and held frames; undefined when auth and hooks are off. */
  private gate: SessionGate<Buffer> | undefined;
  /** The last channel name decoded, made at the first frame (decodeFrame). */
  private names: RecentName | undefined;
  /** The last channel published to that passed the name checks: the decoder's same string. */
  private checkedChannel: string | undefined;

  constructor(
    readonly id: string,
    readonly connection: Connection,
    private readonly ctx: NativeContext,
  ) {
    this.reader = new FrameReader(this, ctx.maxFrameSize, connection.inputBudget);
    connection.handler = this;
  }

  /**
   * Without authentication required, the session is live as soon as the socket opens; with
   * it, it waits for a `connect` with a valid token (closed at the handshake deadline without one).
   * A socket that has spoken JSON by then has a JsonSession, which says so as JSON instead.
   */
  start(): void {
    const auth = this.ctx.auth;
    if (auth !== undefined) {
      this.gate = new SessionGate<Buffer>(this, !auth.required, this.connection.inputBudget);
      if (auth.required) return;
      this.gate.access = auth.anonymous?.(this.who());
    }
    this.connection.handshakeDone();
    this.sendConnected();
  }

  get label(): string {
    return this.id;
  }

  // --- authentication (only with a gate) ----------------------------------------------------

  get stopped(): boolean {
    return this.connection.closing;
  }

  process(body: Buffer): void {
    this.onFrameBody(body);
  }

  failed(err: unknown): void {
    this.connection.noteFault('auth', err);
    this.sendError(0, ErrorCode.ServerError, 'internal error');
  }

  /** Tells the client why (error 1003), then closes. */
  private unauthorized(message: string): void {
    this.sendError(0, ErrorCode.Unauthorized, message);
    this.connection.close('normal', message);
  }

  /** No `connect` with a valid token by the handshake deadline (limits.handshake_timeout_ms). */
  onHandshakeTimeout(): void {
    this.unauthorized('no connect with a valid token in time');
  }

  private who(): ConnectionInfo {
    return { protocol: 'native', id: this.id, remoteAddress: this.connection.remoteAddress };
  }

  private connect(token: string | undefined): void {
    const gate = this.gate as SessionGate<Buffer>;
    const decision = (this.ctx.auth as SessionAuth).authenticate(token, this.who());
    if (decision instanceof Promise) gate.wait(decision, (d) => this.connectDecided(gate, d));
    else this.connectDecided(gate, decision);
  }

  /** A refused `connect` gets its error (1003, or 1011 when a hook failed) and the connection closes. */
  private connectDecided(gate: SessionGate<Buffer>, decision: AuthDecision): void {
    if (!decision.allowed) {
      this.sendError(0, decision.code ?? ErrorCode.Unauthorized, decision.message);
      this.connection.close('normal', decision.message);
      return;
    }
    gate.authenticated = true;
    this.connection.handshakeDone();
    gate.access = decision.access;
    this.user = decision.user;
    gate.expireAt(decision.expiresAt, () => this.unauthorized('token expired'));
    // A refreshed token may allow less: what it no longer allows is left before anything else.
    dropForbidden(this.ctx.channels.broker, this, decision.access);
    this.sendConnected();
  }

  /** Runs `go` once `verdict` allows it; a refusal is answered with its error. */
  private when(verdict: Verdict, id: number, go: () => void): void {
    decide(this.gate, verdict, go, (refusal) => this.sendError(id, refusal.code, refusal.message));
  }

  deliver(message: Message): void {
    if (this.connection.enqueue(nativeWireBytes(message, this.connection), true)) {
      this.ctx.stats.countFrameOut(frameTypeIdOf(message));
    }
  }

  onBytes(data: Buffer): void {
    this.reader.push(data);
  }

  onFrameTooLarge(declaredLength: number): void {
    this.sendError(
      0,
      ErrorCode.PayloadTooLarge,
      `frame of ${declaredLength} bytes exceeds ${this.ctx.maxFrameSize}`,
    );
    this.connection.close('too-large', 'frame too large');
  }

  /** Holding the rest of a frame would pass limits.max_pending_input_bytes. */
  onInputOverBudget(): void {
    this.sendError(0, ErrorCode.RateLimited, 'server input buffers are full: frame refused');
    this.connection.close('overloaded', 'server input buffers are full');
  }

  onClosed(): void {
    this.reader.stop();
    this.gate?.close();
    this.ctx.channels.leaveAll(this);
  }

  /** Tells the client the server is going away, then closes (graceful shutdown). */
  goAway(): void {
    this.sendError(0, ErrorCode.ConnectionClosed, 'server shutting down');
    this.connection.close('going-away', 'server shutting down');
  }

  matches(match: ClientMatch): boolean {
    return match.connectionId === this.id || (match.user !== undefined && match.user === this.user);
  }

  /** Closed by the operator (HTTP API): error 1010 with the reason, then close (WebSocket 1000). */
  kick(reason: string): void {
    this.sendError(0, ErrorCode.ConnectionClosed, reason);
    this.connection.close('normal', reason);
  }

  onTimeout(): void {
    this.sendError(0, ErrorCode.ConnectionClosed, 'heartbeat timeout');
    this.connection.close('going-away', 'heartbeat timeout');
  }

  sendPing(): void {
    this.send({ type: 'ping', timestamp: Date.now() });
  }

  onFrameBody(body: Buffer): void {
    const gate = this.gate;
    if (gate !== undefined && gate.held !== undefined) {
      // A decision is pending: this frame waits its turn behind it.
      if (!gate.hold(body)) {
        this.sendError(0, ErrorCode.RateLimited, 'too many frames waiting for an authorization');
        this.connection.close('overloaded', 'too many frames waiting');
      }
      return;
    }
    this.names ??= new RecentName();
    const frame = decodeFrame(body, this.names);
    if (frame instanceof FrameError) {
      this.sendError(frame.id, frame.code, frame.message);
      return;
    }
    this.ctx.stats.countFrameIn(FRAME_TYPE_IDS[frame.type]);
    if (this.connection.limiter !== undefined && nativeRateLimited(this, frame)) return;
    this.dispatch(frame);
  }

  private dispatch(frame: Frame): void {
    const gate = this.gate;
    if (gate !== undefined && this.guarded(gate, frame)) return;
    this.perform(frame);
  }

  /**
   * Authentication and authorization of one frame (only with auth or hooks on): true when it
   * has been answered here (refused, or handed to `perform` once a decision allows it).
   * Frames that fail the protocol's own checks go on to `perform`, which answers them.
   */
  private guarded(gate: SessionGate<Buffer>, frame: Frame): boolean {
    if (frame.type === 'ping' || frame.type === 'pong') return false;
    if (frame.type === 'connect') {
      if (frame.version !== PROTOCOL_VERSION || !(this.ctx.auth as SessionAuth).required) return false;
      this.connect(frame.token);
      return true;
    }
    if (!gate.authenticated) {
      const id = (frame as { id?: number }).id ?? 0;
      this.sendError(id, ErrorCode.Unauthorized, 'not authenticated: send connect with a token first');
      return true;
    }
    const access = gate.access;
    const channel = (frame as { channel?: unknown }).channel;
    if (access === undefined || typeof channel !== 'string') return false;
    if (frame.type === 'publish' && frame.payload.length > this.ctx.maxMessageSize) return false;
    const right = rightNeeded(frame.type, channel);
    if (right === undefined) return false;
    const id = (frame as { id?: number }).id ?? 0;
    this.when(access.check(right, channel), id, () => this.perform(frame));
    return true;
  }

  private perform(frame: Frame): void {
    const channels = this.ctx.channels;
    switch (frame.type) {
      case 'publish': {
        const id = frame.id ?? 0;
        if (frame.payload.length > this.ctx.maxMessageSize) {
          return this.sendError(
            id,
            ErrorCode.PayloadTooLarge,
            `payload exceeds ${this.ctx.maxMessageSize} bytes`,
          );
        }
        const channel = frame.channel;
        if (channel !== this.checkedChannel) {
          const refused = channels.broker.checkPublishName(channel);
          if (refused) return this.sendError(id, refused.code, refused.message);
          this.checkedChannel = channel;
        }
        const publication = new Publication({
          channel,
          payload: frame.payload,
          event: frame.event,
          publisher: this.id,
        });
        return answer(channels.publish(publication, namesChecked), this, (result) => {
          if (result instanceof Refusal) return this.sendError(id, result.code, result.message);
          if (frame.id !== undefined) this.send({ type: 'ack', id: frame.id });
        });
      }
      case 'subscribe':
        return this.subscribe(frame);
      case 'history':
        return this.history(frame);
      case 'unsubscribe': {
        const refusal = channels.unsubscribe(this, frame.channel);
        if (refusal) return this.sendError(frame.id, refusal.code, refusal.message);
        return this.send({ type: 'ack', id: frame.id });
      }
      case 'presence':
        return this.presence(frame);
      case 'ping':
        return this.send(
          frame.timestamp === undefined ? { type: 'pong' } : { type: 'pong', timestamp: frame.timestamp },
        );
      case 'pong':
        return;
      case 'connect':
        if (frame.version !== PROTOCOL_VERSION) {
          return this.sendError(
            0,
            ErrorCode.ProtocolMismatch,
            `protocol version ${frame.version} is not supported (this server speaks ${PROTOCOL_VERSION})`,
          );
        }
        return this.sendConnected();
      case 'ack':
      case 'error':
      case 'connected':
        return this.sendError(
          0,
          ErrorCode.InvalidFrame,
          `"${frame.type}" frames are sent by the server only`,
        );
    }
  }

  /**
   * The ack of a subscribe that went through, with the channel's stream position when it keeps
   * history. With `recover`, the missed publications follow the ack in this same turn, before
   * any live one can: nothing is lost or sent twice between them.
   */
  private subscribe(frame: SubscribeFrame): void {
    const recovery = this.ctx.channels.subscribe(
      this,
      frame.channel,
      frame.recover,
      (p) => nativeWireBytes(p, this.connection),
      // What the budget has room for: replies may not take the connection past twice the budget.
      this.ctx.maxOutboundBytes - this.connection.outboundBytes,
    );
    answerSubscribe(recovery, this, (recovery) => {
      if (recovery instanceof Refusal) return this.sendError(frame.id, recovery.code, recovery.message);
      const { ack, replay } = recovery;
      // Clustered: answered once the engine holds the new interest, so that a publication any
      // node makes after the ack arrives (docs/CLUSTER.md); a replay is never held back.
      const inForce = replay.length === 0 ? this.ctx.channels.interestInForce() : undefined;
      if (inForce !== undefined) {
        const connection = this.connection;
        inForce.then(() =>
          connection.contain('timer', () => {
            if (!connection.closing) this.send({ type: 'ack', id: frame.id, ...ack });
          }),
        );
        return;
      }
      this.send({ type: 'ack', id: frame.id, ...ack });
      // A reply to the client's own request: not dropped by the slow-consumer policy.
      for (const f of replay) {
        if (this.connection.enqueue(f, false)) this.ctx.stats.countFrameOut(FRAME_TYPE_IDS.publish);
      }
    });
  }

  private history(frame: HistoryFrame): void {
    answer(this.ctx.channels.readHistory(frame.channel, frame.since, frame.limit), this, (page) =>
      this.historyPage(frame, page),
    );
  }

  private historyPage(frame: HistoryFrame, page: HistoryPage | Refusal | undefined): void {
    if (page instanceof Refusal) return this.sendError(frame.id, page.code, page.message);
    if (page === undefined) {
      return this.sendError(frame.id, ErrorCode.ChannelNotFound, `channel ${frame.channel} keeps no history`);
    }
    // The reply must fit the connection's outbound budget: keep the oldest (paging forward
    // from `since`) or the newest ones that do, always at least one.
    const publications = entriesWithin(
      page.publications,
      frame.since !== undefined,
      historyReplyBudget(this.ctx.maxOutboundBytes),
      historyEntry,
      (entry) => entry.payload.length,
    );
    this.send({ type: 'ack', id: frame.id, publications, offset: page.offset, epoch: page.epoch });
  }

  private presence(frame: PresenceFrame): void {
    const channels = this.ctx.channels;
    const id = frame.id ?? 0;
    if (frame.action === PresenceAction.Sync) {
      const sync = channels.presenceSync(frame.channel, this.ctx.maxOutboundBytes);
      if (sync instanceof Refusal) return this.sendError(id, sync.code, sync.message);
      const reply: PresenceFrame = {
        type: 'presence',
        id,
        channel: frame.channel,
        action: PresenceAction.Sync,
        data: sync.members,
      };
      if (sync.truncated) reply.truncated = true;
      return this.send(reply);
    }
    const refusal =
      frame.action === PresenceAction.Leave
        ? channels.presenceLeave(this, frame.channel)
        : channels.setPresence(
            this,
            frame.channel,
            frame.action === PresenceAction.Join,
            nativePresenceData(frame.data),
          );
    if (refusal) return this.sendError(id, refusal.code, refusal.message);
    if (frame.id !== undefined) this.send({ type: 'ack', id: frame.id });
  }

  private sendConnected(): void {
    this.send({
      type: 'connected',
      connection_id: this.id,
      version: PROTOCOL_VERSION,
      heartbeat: this.ctx.heartbeatIntervalMs,
    });
  }

  sendError(id: number, code: number, message: string): void {
    this.ctx.stats.countError(code);
    this.send({ type: 'error', id, code, message });
  }

  private send(frame: Frame): void {
    const bytes = this.connection.wrapNative(encodeFrame(frame, MAX_HEADER_SIZE));
    if (this.connection.enqueue(bytes, false)) this.ctx.stats.countFrameOut(FRAME_TYPE_IDS[frame.type]);
  }
}
