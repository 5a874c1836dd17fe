import type { Socket } from 'node:net';
import type { InputBudget } from '@pulse/protocol';
import type { ConnectionLimiter } from '../limits/connection-limiter.js';
import { acceptTime } from './accept-time.js';
import type { CoarseClock } from './coarse-clock.js';
import type { ConnectionFaults, FaultSite } from './connection-faults.js';
import type { FlushScheduler } from './flush-scheduler.js';
import type { HeartbeatTarget } from './heartbeat.js';
import { PauseAllowance, type PausePolicy } from './pause-allowance.js';
import {
  type InputHolder,
  type PausableInput,
  ReaderBackpressure,
  type ReaderRoom,
  currentInput,
} from './publisher-pause.js';
import type { TransportStats } from './transport-stats.js';

export type SlowConsumerPolicy = 'drop' | 'disconnect';

/** How often a connection past its budget whose socket will emit no 'drain' is looked at again (ms). */
const ROOM_POLL_MS = 10;

/**
 * What a connection may take past its budget while the publisher feeding it is paused: the
 * publisher's socket stops after the read being handled, which is at most 64 KiB of input;
 * its publications may grow a little on the way out (framing, properties).
 */
export const PAUSED_OVERFLOW_BYTES = 128 * 1024;

export interface ConnectionLimits {
  /** Outbound bytes a connection may have waiting (our queue + the socket's) before the policy applies. */
  maxOutboundBytes: number;
  slowConsumerPolicy: SlowConsumerPolicy;
  /**
   * How long a connection past its budget may pause the publishers feeding it before the
   * policy applies, and how long a publisher may be paused (limits.max_publisher_pause_ms,
   * limits.publisher_pause_percent; pause-allowance.ts).
   */
  publisherPause: PausePolicy;
}

/** What every connection of one transport shares: one reference per connection instead of four. */
export interface ConnectionEnv {
  readonly scheduler: FlushScheduler;
  readonly limits: ConnectionLimits;
  readonly stats: TransportStats;
  readonly clock: CoarseClock;
  /**
   * How long a client has from the accept of its socket (TLS handshake and WebSocket upgrade
   * included) to the end of its protocol's handshake: MQTT CONNECT, native or JSON authentication.
   */
  readonly handshakeTimeoutMs: number;
  /** Bytes of client input held, server-wide (limits.max_pending_input_bytes). */
  readonly inputBudget: InputBudget;
  /** Told once when any connection of this transport has closed, after its handler. */
  readonly onClosed: (connection: Connection) => void;
  /** Where exceptions escaping this connection's callbacks are reported (see Connection.fail). */
  readonly faults: ConnectionFaults;
}

/** What the protocol adapter on top of a connection is told. */
export interface ConnectionHandler {
  /** Names the connection in logs: its connection id, or its MQTT client id. */
  readonly label: string;
  onBytes(data: Buffer): void;
  onClosed(): void;
  /** The client has been silent for the heartbeat interval. */
  sendPing(): void;
  /** The client has been silent past the heartbeat timeout. */
  onTimeout(): void;
  /**
   * The handshake deadline passed before the protocol said `handshakeDone()`: say why in the
   * protocol's own terms and close. Without it the connection is dropped.
   */
  onHandshakeTimeout?(): void;
  /** The server is shutting down: say goodbye in the protocol's own terms and close. */
  goAway(): void;
  /** True when this connection is one `POST /api/disconnect` names (see ClientMatch). */
  matches(match: ClientMatch): boolean;
  /** Closed by the server's operator (`POST /api/disconnect`): say why in the protocol's own terms and close. */
  kick(reason: string): void;
  /**
   * A WebSocket message over the size limit arrived; the transport closes (1009) right after
   * this, which may say why in the protocol's own terms first.
   */
  onMessageTooLarge?(reason: string): void;
}

/**
 * Which client connections an operator closes (HTTP API `POST /api/disconnect`); one field is set.
 * `connectionId`: a native or JSON connection id; `clientId`: an MQTT client identifier;
 * `user`: the authenticated user of the connection (Subscriber.user), of any protocol.
 */
export interface ClientMatch {
  connectionId?: string;
  clientId?: string;
  user?: string;
}

/** Why a connection is being closed, in transport-neutral terms. */
export type CloseReason =
  | 'normal'
  | 'going-away'
  | 'protocol-error'
  | 'too-large'
  | 'overloaded'
  | 'rate-limited';

/**
 * A client socket with an outbound queue: writes of one batch go out in one `write`, and the
 * bytes waiting are bounded by a budget past which the slow-consumer policy applies. The
 * transport subclasses (WebSocket, raw TCP) add their own framing.
 */
export abstract class Connection implements HeartbeatTarget, PausableInput {
  private queue: Buffer[] | undefined;
  private queuedBytes = 0;
  /** The socket's own buffered bytes, sampled at the first enqueue of a batch (FlushScheduler). */
  private socketBacklog = 0;
  private dirty = false;
  closing = false;
  closed = false;
  /** Coarse clock reading of the last bytes received (see HeartbeatMonitor). */
  lastSeen: number;
  pingSent = false;
  ownTimeoutMs: number | undefined = undefined;
  /** Coarse clock reading by which the protocol's handshake must be done; 0 once it is. */
  handshakeDeadline: number;
  handler: ConnectionHandler | undefined;
  /** Inbound rate limits (limits/); undefined unless messages_per_second or bytes_per_second is on. */
  limiter: ConnectionLimiter | undefined = undefined;
  /** The publishers this connection holds paused while past its budget; made when first needed. */
  private backpressure: ReaderBackpressure | undefined;
  /** Who holds this connection's input paused, and how much pause it has left; made at its first pause. */
  private inputPause: InputPause | undefined;

  constructor(
    readonly socket: Socket,
    protected readonly env: ConnectionEnv,
  ) {
    this.lastSeen = env.clock.now;
    this.handshakeDeadline = acceptTime(socket) + env.handshakeTimeoutMs;
  }

  /** The protocol's handshake (and authentication) is over: the deadline no longer applies. */
  handshakeDone(): void {
    this.handshakeDeadline = 0;
  }

  get stats(): TransportStats {
    return this.env.stats;
  }

  /** What the protocol parsers and session gates on this connection charge their held input to. */
  get inputBudget(): InputBudget {
    return this.env.inputBudget;
  }

  /**
   * Bytes read from the peer: counted, stamped as activity, then parsed with this connection as
   * the current input (the publisher that a slow reader of what they route may pause).
   */
  protected takeInput(chunk: Buffer): void {
    this.stats.bytesIn += chunk.length;
    if (this.limiter !== undefined) this.limiter.received(chunk.length);
    this.touch();
    if (this.closing) return;
    currentInput.source = this;
    const scheduler = this.env.scheduler;
    scheduler.beginInput();
    try {
      this.parseInput(chunk);
    } finally {
      currentInput.source = undefined;
      scheduler.endInput();
    }
  }

  /** The transport's own framing of what was read; these bytes already are native frames. */
  protected parseInput(chunk: Buffer): void {
    this.handler?.onBytes(chunk);
  }

  /** Stamps activity; called by the transports for every chunk received. */
  protected touch(): void {
    this.lastSeen = this.env.clock.now;
    this.pingSent = false;
    if (this.env.faults.probe !== undefined) this.env.faults.probe('data', this.label);
  }

  sendPing(): void {
    this.contain('timer', () => this.handler?.sendPing());
  }

  expire(): void {
    this.contain('timer', () => {
      if (this.handler) this.handler.onTimeout();
      else this.abort();
    });
  }

  /** The handler's label, or the peer's address before there is a handler. */
  get label(): string {
    return this.handler?.label ?? this.remoteAddress;
  }

  /**
   * An exception escaped one of this connection's callbacks (a bug, or input nobody expected):
   * it is logged and counted, and this connection alone is closed.
   */
  fail(where: FaultSite, err: unknown): void {
    this.noteFault(where, err);
    this.abort();
  }

  /** Logs and counts an exception that the protocol answered itself (an internal error reply). */
  noteFault(where: FaultSite, err: unknown): void {
    this.env.faults.report(where, this.label, err);
  }

  /** Runs `fn` (a timer's or an event's work for this connection); an exception in it is `fail`. */
  contain(where: FaultSite, fn: () => void): void {
    try {
      const probe = this.env.faults.probe;
      if (probe !== undefined) probe(where, this.label);
      fn();
    } catch (err) {
      this.fail(where, err);
    }
  }

  missedHandshakeDeadline(): void {
    this.handshakeDeadline = 0;
    this.stats.handshakeTimeouts++;
    if (this.handler?.onHandshakeTimeout) this.handler.onHandshakeTimeout();
    else this.abort();
  }

  abstract readonly transport: 'ws' | 'tcp' | 'http_stream' | 'sse';
  /** Index of this transport's cached encoding on an Outbound message. */
  abstract readonly wireSlot: number;
  /** Wraps a native frame encoded with MAX_HEADER_SIZE bytes of headroom into this transport's framing. */
  abstract wrapNative(encodedWithHeadroom: Buffer): Buffer;
  /** Frames one binary message (an MQTT packet) for this transport. */
  abstract frameBinary(payload: Buffer): Buffer;
  /** Sends the transport's own goodbye and closes. */
  abstract close(reason: CloseReason, message?: string): void;

  /** Bytes waiting to be sent: this batch's queue plus what the socket has not written yet. */
  get outboundBytes(): number {
    return this.queuedBytes + (this.closed ? 0 : this.socket.writableLength);
  }

  get remoteAddress(): string {
    return this.socket.remoteAddress ?? '';
  }

  /**
   * Queues bytes for this batch's write. `droppable` data (publications) is dropped or
   * disconnects under the slow-consumer policy once over budget; replies to the client's
   * own requests are always queued, up to twice the budget.
   */
  enqueue(bytes: Buffer, droppable: boolean): boolean {
    if (this.closing) return false;
    if (!this.dirty) {
      this.socketBacklog = this.socket.writableLength;
    }
    const waiting = this.queuedBytes + this.socketBacklog + bytes.length;
    const budget = this.env.limits.maxOutboundBytes;
    if (
      waiting > budget &&
      (droppable || waiting > 2 * budget) &&
      !this.admitPastBudget(waiting, droppable)
    ) {
      return false;
    }
    if (!this.queue) this.queue = [];
    this.queue.push(bytes);
    this.queuedBytes += bytes.length;
    if (!this.dirty) {
      this.dirty = true;
      this.env.scheduler.markDirty(this);
    }
    return true;
  }

  /**
   * Bytes that take the connection past its budget: true when they are queued anyway (their
   * publisher is paused instead); otherwise the slow-consumer policy applies. Apart from
   * `enqueue`, which runs for every delivery, to keep that small.
   */
  private admitPastBudget(waiting: number, droppable: boolean): boolean {
    const budget = this.env.limits.maxOutboundBytes;
    if (droppable && waiting <= budget + PAUSED_OVERFLOW_BYTES && this.pauseCurrentPublisher()) return true;
    if (droppable && this.env.limits.slowConsumerPolicy === 'drop') {
      this.stats.dropped++;
      return false;
    }
    this.stats.slowConsumerDisconnects++;
    // Aborted, not closed: a goodbye frame would wait behind the bytes the client is not reading.
    this.abort();
    return false;
  }

  /** Past the budget: pauses the publisher whose input is being handled, when that may be done. */
  private pauseCurrentPublisher(): boolean {
    const policy = this.env.limits.publisherPause;
    if (policy.maxPauseMs === 0) return false;
    this.backpressure ??= new ReaderBackpressure(this.room(), policy, this.env.stats);
    return this.backpressure.holdCurrent();
  }

  private room(): ReaderRoom {
    const connection = this;
    return {
      get waiting() {
        return connection.outboundBytes;
      },
      budget: this.env.limits.maxOutboundBytes,
      whenRoomMayBe: (check) => this.whenRoomMayBe(check),
      contain: (fn) => this.contain('drain', fn),
    };
  }

  /** Calls `check` (contained) once bytes waiting may have gone down; never after the close. */
  whenRoomMayBe(check: () => void): void {
    if (this.closed) return;
    const socket = this.socket;
    const onRoom = () => this.contain('drain', check);
    if (socket.writableNeedDrain) socket.once('drain', onRoom);
    // The queue is written by the end of this turn (FlushScheduler): look again then.
    else if (this.outboundBytes > socket.writableLength) setImmediate(onRoom);
    // Written, not yet drained, below the socket's high-water mark: no 'drain' will come.
    else setTimeout(onRoom, ROOM_POLL_MS).unref();
  }

  /** True while a slow reader holds this connection's input paused (the heartbeat waits). */
  get inputHeld(): boolean {
    return this.inputPause !== undefined && this.inputPause.holders.size > 0;
  }

  holdInput(holder: InputHolder): boolean {
    if (this.closed) return false;
    this.inputPause ??= new InputPause(this.env.limits.publisherPause);
    const pause = this.inputPause;
    if (pause.holders.size === 0) {
      const mayLastMs = pause.allowance.start();
      if (mayLastMs === 0) return false;
      pause.timer = setTimeout(() => this.contain('timer', () => this.withdrawInput()), mayLastMs);
      this.pauseReading();
    }
    pause.holders.add(holder);
    return true;
  }

  releaseInput(holder: InputHolder): void {
    const pause = this.inputPause;
    if (pause === undefined || !pause.holders.delete(holder) || pause.holders.size > 0) return;
    this.resumeInput(pause);
  }

  /** Paused for all its allowance, or closed: reads again, and its holders are told. */
  private withdrawInput(): void {
    const pause = this.inputPause;
    if (pause === undefined || pause.holders.size === 0) return;
    const holders = [...pause.holders];
    pause.holders.clear();
    this.resumeInput(pause);
    for (const holder of holders) holder.inputWithdrawn(this);
  }

  private resumeInput(pause: InputPause): void {
    clearTimeout(pause.timer);
    pause.timer = undefined;
    this.stats.publisherPausedMs += pause.allowance.stop();
    // Silent because it was not read: not the client's silence.
    this.lastSeen = this.env.clock.now;
    this.pingSent = false;
    if (!this.closed) this.resumeReading();
  }

  /**
   * Where the client's input comes from stops and starts again (publisher pause): the socket,
   * or for the HTTP streaming transport the POST bodies (http/stream/post-input.ts).
   */
  protected pauseReading(): void {
    this.socket.pause();
  }

  protected resumeReading(): void {
    this.socket.resume();
  }

  /** Writes one batch's bytes: on the socket, or through an HTTP response (its chunked encoding). */
  protected writeOut(data: Buffer): void {
    this.socket.write(data);
  }

  /** Ends the outgoing side once the last bytes are written. */
  protected endOut(): void {
    this.socket.end();
  }

  flush(): void {
    this.dirty = false;
    const queue = this.queue;
    if (!queue || queue.length === 0 || this.closed) return;
    const data = queue.length === 1 ? (queue[0] as Buffer) : Buffer.concat(queue, this.queuedBytes);
    // Dropped rather than emptied: an idle connection should not keep a grown array.
    this.queue = undefined;
    this.queuedBytes = 0;
    this.stats.bytesOut += data.length;
    this.writeOut(data);
  }

  /** Flushes what is queued, then half-closes; destroys the socket if the peer lingers. */
  protected endAfterFlush(lingerMs = 2000): void {
    this.env.scheduler.beforeWrite();
    this.flush();
    this.closing = true;
    this.endOut();
    setTimeout(() => this.socket.destroy(), lingerMs).unref();
  }

  /** Closes at once, dropping whatever is queued. */
  abort(): void {
    this.closing = true;
    this.queue = undefined;
    this.queuedBytes = 0;
    this.socket.destroy();
  }

  /**
   * The peer sent its FIN. Sockets that come from the HTTP server (WebSocket upgrades) allow
   * half-open connections, so without this a client gone without a close frame would stay
   * connected; like `ws`, the server ends its side at once and 'close' follows. (Node ends
   * the others by itself.)
   */
  onSocketEnded(): void {
    if (!this.closing && this.socket.allowHalfOpen) this.endAfterFlush();
  }

  /**
   * Called once when the socket has closed, whatever the cause. The connection is untracked
   * even when its handler's cleanup throws (that is reported as a fault in `close`).
   */
  protected onSocketClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.closing = true;
    this.queue = undefined;
    this.backpressure?.dispose();
    this.withdrawInput();
    try {
      if (this.env.faults.probe !== undefined) this.env.faults.probe('close', this.label);
      this.handler?.onClosed();
    } finally {
      this.env.onClosed(this);
    }
  }
}

/** A publisher's pause allowance, in readers' allowances (pause-allowance.ts). */
const PUBLISHER_ALLOWANCE_SCALE = 2;

/** A publisher's side of its pauses. */
class InputPause {
  readonly holders = new Set<InputHolder>();
  readonly allowance: PauseAllowance;
  timer: NodeJS.Timeout | undefined;

  constructor(policy: PausePolicy) {
    this.allowance = new PauseAllowance(policy, PUBLISHER_ALLOWANCE_SCALE);
  }
}
