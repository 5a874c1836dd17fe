import { type Broker, type Message, Publication, Refusal, type Subscriber } from '@pulse/core';
import {
  ErrorCode,
  FRAME_TYPE_IDS,
  type Frame,
  FrameError,
  FrameReader,
  type FrameReaderHandler,
  MAX_HEADER_SIZE,
  PROTOCOL_VERSION,
  PresenceAction,
  type PresenceFrame,
  decodeFrame,
  encodeFrame,
} from '@pulse/protocol';
import type { Connection, ConnectionHandler } from '../transport/connection.js';
import type { FlushScheduler } from '../transport/flush-scheduler.js';
import { frameTypeIdOf, nativeWireBytes } from './native-encoding.js';
import type { NativeStats } from './native-stats.js';

export interface NativeContext {
  readonly broker: Broker;
  readonly scheduler: FlushScheduler;
  readonly stats: NativeStats;
  readonly maxMessageSize: number;
  readonly maxFrameSize: number;
  readonly heartbeatIntervalMs: number;
}

/**
 * The native protocol (INTERFACE.md §3) on one connection: turns frames into broker calls
 * and broker deliveries into frames. Knows nothing of sockets beyond `Connection`.
 */
export class NativeSession implements Subscriber, ConnectionHandler, FrameReaderHandler {
  filters: string[] | undefined;
  presenceChannels: Set<string> | undefined;
  private readonly reader: FrameReader;

  constructor(
    readonly id: string,
    readonly connection: Connection,
    private readonly ctx: NativeContext,
  ) {
    this.reader = new FrameReader(this, ctx.maxFrameSize);
    connection.handler = this;
  }

  /** Without authentication configured, the session is live as soon as the socket opens. */
  start(): void {
    this.sendConnected();
  }

  deliver(message: Message): void {
    if (this.connection.enqueue(nativeWireBytes(message, this.connection), true)) {
      this.ctx.stats.framesOut[frameTypeIdOf(message)]++;
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

  onClosed(): void {
    this.reader.stop();
    this.ctx.broker.disconnect(this);
  }

  /** Tells the client the server is going away, then closes (graceful shutdown). */
  goAway(): void {
    this.sendError(0, ErrorCode.ConnectionClosed, 'server shutting down');
    this.connection.close('going-away', 'server shutting down');
  }

  onTimeout(): void {
    this.sendError(0, ErrorCode.ConnectionClosed, 'heartbeat timeout');
    this.connection.close('going-away', 'heartbeat timeout');
  }

  sendPing(): void {
    this.send({ type: 'ping', timestamp: Date.now() });
  }

  onFrameBody(body: Buffer): void {
    const frame = decodeFrame(body);
    if (frame instanceof FrameError) {
      this.sendError(frame.id, frame.code, frame.message);
      return;
    }
    this.ctx.stats.framesIn[FRAME_TYPE_IDS[frame.type]]++;
    this.dispatch(frame);
  }

  private dispatch(frame: Frame): void {
    const broker = this.ctx.broker;
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
        const publication = new Publication({
          channel: frame.channel,
          payload: frame.payload,
          event: frame.event,
          publisher: this.id,
        });
        const result = broker.publish(publication);
        if (result instanceof Refusal) return this.sendError(id, result.code, result.message);
        if (result > 0) this.ctx.scheduler.notePublication(publication);
        if (frame.id !== undefined) this.send({ type: 'ack', id: frame.id });
        return;
      }
      case 'subscribe': {
        const refusal = broker.subscribe(this, frame.channel);
        if (refusal) return this.sendError(frame.id, refusal.code, refusal.message);
        // History and recovery come with durable storage; until then nothing can be recovered.
        if (frame.recover) return this.send({ type: 'ack', id: frame.id, recovered: false });
        return this.send({ type: 'ack', id: frame.id });
      }
      case 'unsubscribe': {
        const refusal = broker.unsubscribe(this, frame.channel);
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

  private presence(frame: PresenceFrame): void {
    const broker = this.ctx.broker;
    const id = frame.id ?? 0;
    if (frame.action === PresenceAction.Sync) {
      const members = broker.presenceSync(frame.channel);
      if (members instanceof Refusal) return this.sendError(id, members.code, members.message);
      return this.send({
        type: 'presence',
        id,
        channel: frame.channel,
        action: PresenceAction.Sync,
        data: members,
      });
    }
    const refusal =
      frame.action === PresenceAction.Join
        ? broker.presenceJoin(this, frame.channel, frame.data)
        : frame.action === PresenceAction.Update
          ? broker.presenceUpdate(this, frame.channel, frame.data)
          : broker.presenceLeave(this, frame.channel);
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
    if (this.connection.enqueue(bytes, false)) this.ctx.stats.framesOut[FRAME_TYPE_IDS[frame.type]]++;
  }
}
