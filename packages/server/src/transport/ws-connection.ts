import type { Socket } from 'node:net';
import {
  CloseCode,
  FrameParser,
  type FrameParserHandler,
  MAX_HEADER_SIZE,
  Opcode,
  binaryFrameInPlace,
  closeFrame,
  frame,
} from '@pulse/protocol';
import { WS_WIRE_SLOT } from '../encoding-slots.js';
import { type CloseReason, Connection, type ConnectionEnv } from './connection.js';
import { type SocketOwner, attachSocket } from './socket-events.js';

const CLOSE_CODES: Record<CloseReason, number> = {
  normal: CloseCode.Normal,
  'going-away': CloseCode.GoingAway,
  'protocol-error': CloseCode.ProtocolError,
  'too-large': CloseCode.MessageTooBig,
  overloaded: CloseCode.TryAgainLater,
  'rate-limited': CloseCode.PolicyViolation,
};

export interface TextHandler {
  onText(connection: WsConnection, data: Buffer): void;
  /** A text message (or close reason) that is not UTF-8, told just before the close 1007. */
  onInvalidText?(connection: WsConnection, reason: string): void;
}

/** A WebSocket connection after the opening handshake (RFC 6455), server side. */
export class WsConnection extends Connection implements FrameParserHandler, SocketOwner {
  readonly transport = 'ws' as const;
  readonly wireSlot = WS_WIRE_SLOT;
  private readonly parser: FrameParser;
  textHandler: TextHandler | undefined;

  constructor(socket: Socket, env: ConnectionEnv, maxMessageSize: number) {
    super(socket, env);
    this.parser = new FrameParser(this, { maxMessageSize, budget: env.inputBudget });
    attachSocket(socket, this);
  }

  wrapNative(encodedWithHeadroom: Buffer): Buffer {
    return binaryFrameInPlace(encodedWithHeadroom, MAX_HEADER_SIZE);
  }

  frameBinary(payload: Buffer): Buffer {
    return frame(Opcode.Binary, payload);
  }

  sendText(text: string): void {
    this.enqueue(frame(Opcode.Text, Buffer.from(text, 'utf8')), false);
  }

  close(reason: CloseReason, message = ''): void {
    if (this.closing) return;
    this.enqueue(closeFrame(CLOSE_CODES[reason], message), false);
    this.parser.stop();
    this.endAfterFlush();
  }

  onSocketData(chunk: Buffer): void {
    this.takeInput(chunk);
  }

  protected override parseInput(chunk: Buffer): void {
    this.parser.push(chunk);
  }

  override onSocketEnded(): void {
    this.parser.stop();
    super.onSocketEnded();
  }

  onSocketClosed(): void {
    this.parser.stop();
    this.onSocketClose();
  }

  onMessage(data: Buffer, isText: boolean): void {
    if (this.closing) return;
    if (isText) this.textHandler?.onText(this, data);
    else this.handler?.onBytes(data);
  }

  onPing(data: Buffer): void {
    this.enqueue(frame(Opcode.Pong, data), false);
  }

  onPong(): void {}

  onClose(code: number): void {
    if (this.closing) return;
    this.enqueue(closeFrame(code === 1005 ? CloseCode.Normal : code), false);
    this.endAfterFlush();
  }

  onProtocolError(closeCode: number, reason: string): void {
    if (this.closing) return;
    if (closeCode === CloseCode.InvalidPayload) this.textHandler?.onInvalidText?.(this, reason);
    if (closeCode === CloseCode.MessageTooBig) this.handler?.onMessageTooLarge?.(reason);
    this.enqueue(closeFrame(closeCode, reason), false);
    this.endAfterFlush();
  }
}
