import type { RecentName } from '../recent-name.js';
import { ErrorCode } from './error-codes.js';
import {
  FRAME_TYPE_IDS,
  FRAME_TYPE_NAMES,
  type Frame,
  type FrameTypeName,
  MAX_HISTORY_LIMIT,
  type PresenceAction,
  type RecoverPosition,
} from './frames.js';
import { decodeHotPublish } from './hot-publish.js';
import { msgpack } from './msgpack.js';
import { plainMessagePackProblem } from './plain-msgpack.js';

/** Why a frame was refused: the error frame to send back. */
export class FrameError {
  constructor(
    readonly code: number,
    readonly message: string,
    readonly id = 0,
  ) {}
}

type Fields = Record<string, unknown>;

const isId = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function typeName(raw: unknown): FrameTypeName | undefined {
  if (typeof raw === 'string') return Object.hasOwn(FRAME_TYPE_IDS, raw) ? (raw as FrameTypeName) : undefined;
  if (typeof raw === 'number' && Number.isInteger(raw) && raw >= 1 && raw <= FRAME_TYPE_NAMES.length) {
    return FRAME_TYPE_NAMES[raw - 1];
  }
  return undefined;
}

function requireId(f: Fields, type: string): number {
  if (!isId(f.id))
    throw new FrameError(ErrorCode.InvalidFrame, `${type}: "id" must be a non-negative integer`);
  return f.id;
}

function optionalId(f: Fields, type: string): number | undefined {
  if (f.id === undefined || f.id === null) return undefined;
  return requireId(f, type);
}

function requireChannel(f: Fields, type: string, id: number): string {
  if (typeof f.channel !== 'string') {
    throw new FrameError(ErrorCode.InvalidFrame, `${type}: "channel" must be a string`, id);
  }
  return f.channel;
}

function optionalTimestamp(f: Fields): number | undefined {
  return typeof f.timestamp === 'number' ? f.timestamp : undefined;
}

function payloadBytes(raw: unknown, id: number): Uint8Array {
  if (raw instanceof Uint8Array) return raw;
  if (typeof raw === 'string') return Buffer.from(raw, 'utf8');
  if (raw === undefined || raw === null) return EMPTY;
  throw new FrameError(ErrorCode.InvalidFrame, 'publish: "payload" must be binary', id);
}

const EMPTY = new Uint8Array(0);

function recoverPosition(
  raw: unknown,
  id: number,
  where = 'subscribe: "recover"',
): RecoverPosition | undefined {
  if (raw === undefined || raw === null) return undefined;
  const r = raw as Fields;
  if (typeof r !== 'object' || !isId(r.offset) || typeof r.epoch !== 'string') {
    throw new FrameError(ErrorCode.InvalidFrame, `${where} must be {offset, epoch}`, id);
  }
  return { offset: r.offset, epoch: r.epoch };
}

function fromFields(f: Fields): Frame {
  const type = typeName(f.type);
  if (!type) {
    throw new FrameError(
      ErrorCode.InvalidFrame,
      `unknown frame type ${JSON.stringify(f.type) ?? 'undefined'}`,
    );
  }
  switch (type) {
    case 'subscribe': {
      const id = requireId(f, type);
      return { type, id, channel: requireChannel(f, type, id), recover: recoverPosition(f.recover, id) };
    }
    case 'unsubscribe': {
      const id = requireId(f, type);
      return { type, id, channel: requireChannel(f, type, id) };
    }
    case 'history': {
      const id = requireId(f, type);
      const channel = requireChannel(f, type, id);
      const since = recoverPosition(f.since, id, 'history: "since"');
      let limit: number | undefined;
      if (f.limit !== undefined && f.limit !== null) {
        if (
          !Number.isInteger(f.limit) ||
          (f.limit as number) < 1 ||
          (f.limit as number) > MAX_HISTORY_LIMIT
        ) {
          throw new FrameError(
            ErrorCode.InvalidFrame,
            `history: "limit" must be an integer from 1 to ${MAX_HISTORY_LIMIT}`,
            id,
          );
        }
        limit = f.limit as number;
      }
      return { type, id, channel, since, limit };
    }
    case 'publish': {
      const id = optionalId(f, type);
      const channel = requireChannel(f, type, id ?? 0);
      if (f.event !== undefined && f.event !== null && typeof f.event !== 'string') {
        throw new FrameError(ErrorCode.InvalidFrame, 'publish: "event" must be a string', id ?? 0);
      }
      return {
        type,
        id,
        channel,
        event: (f.event as string | undefined) ?? undefined,
        payload: payloadBytes(f.payload, id ?? 0),
        offset: isId(f.offset) ? f.offset : undefined,
        epoch: typeof f.epoch === 'string' ? f.epoch : undefined,
      };
    }
    case 'presence': {
      const id = optionalId(f, type);
      const channel = requireChannel(f, type, id ?? 0);
      const action = f.action;
      if (action !== 0 && action !== 1 && action !== 2 && action !== 3) {
        throw new FrameError(ErrorCode.InvalidFrame, 'presence: "action" must be 0, 1, 2 or 3', id ?? 0);
      }
      const data = f.data;
      // A MessagePack map decodes to a plain object; bin (Buffer), arrays and ext values (Date...) are not maps.
      if (data !== undefined && data !== null && Object.getPrototypeOf(data) !== Object.prototype) {
        throw new FrameError(ErrorCode.InvalidFrame, 'presence: "data" must be a map', id ?? 0);
      }
      return {
        type,
        id,
        channel,
        action: action as PresenceAction,
        data: (data as Fields) ?? undefined,
        connection_id: typeof f.connection_id === 'string' ? f.connection_id : undefined,
        user: typeof f.user === 'string' ? f.user : undefined,
        ...(f.truncated === true ? { truncated: true } : {}),
      };
    }
    case 'ack':
      return { ...f, type, id: requireId(f, type) };
    case 'error': {
      const id = isId(f.id) ? f.id : 0;
      if (typeof f.code !== 'number' || typeof f.message !== 'string') {
        throw new FrameError(ErrorCode.InvalidFrame, 'error: "code" and "message" are required', id);
      }
      return { type, id, code: f.code, message: f.message };
    }
    case 'ping':
    case 'pong':
      return { type, timestamp: optionalTimestamp(f) };
    case 'connect': {
      if (typeof f.version !== 'number') {
        throw new FrameError(ErrorCode.InvalidFrame, 'connect: "version" must be a number');
      }
      if (f.token !== undefined && f.token !== null && typeof f.token !== 'string') {
        throw new FrameError(ErrorCode.InvalidFrame, 'connect: "token" must be a string');
      }
      return { type, version: f.version, token: (f.token as string | undefined) ?? undefined };
    }
    case 'connected': {
      if (typeof f.connection_id !== 'string' || typeof f.version !== 'number') {
        throw new FrameError(ErrorCode.InvalidFrame, 'connected: "connection_id" and "version" are required');
      }
      return {
        type,
        connection_id: f.connection_id,
        version: f.version,
        heartbeat: typeof f.heartbeat === 'number' ? f.heartbeat : 0,
      };
    }
  }
}

/**
 * Decodes one frame body (without its length prefix). Returns the typed frame, or a
 * FrameError carrying the code and message to answer with; never throws. `names`: the
 * connection's RecentName, so that a channel published to again is not decoded again.
 */
export function decodeFrame(body: Uint8Array, names?: RecentName): Frame | FrameError {
  return decodeHotPublish(body, names) ?? decodeFrameGeneric(body);
}

/** decodeFrame through msgpackr, for every frame: what decodeHotPublish must agree with. */
export function decodeFrameGeneric(body: Uint8Array): Frame | FrameError {
  let value: unknown;
  try {
    if (body.length === 0) return new FrameError(ErrorCode.InvalidFrame, 'empty frame');
    // Client bytes decode as plain MessagePack only: see plainMessagePackProblem.
    const problem = plainMessagePackProblem(body);
    if (problem !== undefined) return new FrameError(ErrorCode.InvalidFrame, `frame refused: ${problem}`);
    value = msgpack.unpack(body);
  } catch {
    return new FrameError(ErrorCode.InvalidFrame, 'frame is not valid MessagePack');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    return new FrameError(ErrorCode.InvalidFrame, 'frame must be a MessagePack map');
  }
  try {
    return fromFields(value as Fields);
  } catch (err) {
    if (err instanceof FrameError) return err;
    return new FrameError(ErrorCode.InvalidFrame, 'malformed frame');
  }
}
