import { ErrorCode, MAX_HISTORY_LIMIT } from '@pulse/protocol';

/** Error codes of the JSON protocol (docs/PROTOCOL.md, "JSON protocol"), HTTP-like. */
export const JsonCode = {
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  TooLarge: 413,
  TooMany: 429,
  Internal: 500,
} as const;

/** The JSON code for one of the core's refusal codes (the native error codes). */
export function jsonCodeOf(nativeCode: number): number {
  switch (nativeCode) {
    case ErrorCode.InvalidFrame:
    case ErrorCode.InvalidChannel:
    case ErrorCode.NotSubscribed:
    case ErrorCode.AlreadySubscribed:
    case ErrorCode.ProtocolMismatch:
      return JsonCode.BadRequest;
    case ErrorCode.Unauthorized:
      return JsonCode.Unauthorized;
    case ErrorCode.Forbidden:
      return JsonCode.Forbidden;
    case ErrorCode.ChannelNotFound:
      return JsonCode.NotFound;
    case ErrorCode.PayloadTooLarge:
      return JsonCode.TooLarge;
    case ErrorCode.RateLimited:
      return JsonCode.TooMany;
    default:
      return JsonCode.Internal;
  }
}

/** Deepest nesting of arrays and objects a request may have (the request itself is level 1). */
export const MAX_JSON_DEPTH = 64;
/** Longest string id accepted. */
export const MAX_ID_LENGTH = 64;

/** A request id: echoed in the reply as given. */
export type JsonId = number | string;

export interface Position {
  offset: number;
  epoch: string;
}

export type PresenceData = Record<string, unknown>;

export type JsonRequest =
  | { method: 'connect'; id: JsonId; token: string | undefined }
  | { method: 'subscribe'; id: JsonId; channel: string; recover: Position | undefined }
  | { method: 'unsubscribe'; id: JsonId; channel: string }
  | {
      method: 'publish';
      id: JsonId;
      channel: string;
      data: unknown;
      event: string | undefined;
      /** `encoding: "base64"`: `data` is the payload's bytes in base64, not JSON to publish as text. */
      base64: boolean;
    }
  | { method: 'presence'; id: JsonId; channel: string }
  | { method: 'presence_join'; id: JsonId; channel: string; data: PresenceData | undefined }
  | { method: 'presence_leave'; id: JsonId; channel: string }
  | { method: 'presence_update'; id: JsonId; channel: string; data: PresenceData }
  | {
      method: 'history';
      id: JsonId;
      channel: string;
      since: Position | undefined;
      limit: number | undefined;
    }
  | { method: 'ping'; id: JsonId };

export type JsonMethod = JsonRequest['method'];

export const JSON_METHODS: ReadonlySet<string> = new Set<JsonMethod>([
  'connect',
  'subscribe',
  'unsubscribe',
  'publish',
  'presence',
  'presence_join',
  'presence_leave',
  'presence_update',
  'history',
  'ping',
]);

/** Why a request was refused before it reached the broker: the error reply to send. */
export class JsonRequestError {
  constructor(
    readonly code: number,
    readonly message: string,
    /** The request's id when it could be read, else null. */
    readonly id: JsonId | null,
    /** For metrics: the method when known, `unknown` for one that does not exist, `invalid` when unreadable. */
    readonly method: string,
  ) {}
}

type Fields = Record<string, unknown>;

const isObject = (v: unknown): v is Fields => typeof v === 'object' && v !== null && !Array.isArray(v);

const isId = (v: unknown): v is JsonId =>
  (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) ||
  (typeof v === 'string' && v.length <= MAX_ID_LENGTH);

/**
 * True when `bytes`, read as JSON text, nests arrays and objects deeper than `max`. One pass
 * without allocation, before anything is parsed; malformed text is left to the parser.
 */
export function nestsDeeperThan(bytes: Uint8Array, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** Thrown by the field readers below; caught in parseRequest. */
class BadParam extends Error {}

function channelOf(params: Fields, method: string): string {
  const channel = params.channel;
  if (typeof channel !== 'string') throw new BadParam(`${method}: "channel" must be a string`);
  return channel;
}

function positionOf(raw: unknown, where: string): Position | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (
    !isObject(raw) ||
    typeof raw.offset !== 'number' ||
    !Number.isSafeInteger(raw.offset) ||
    raw.offset < 0 ||
    typeof raw.epoch !== 'string'
  ) {
    throw new BadParam(`${where} must be {offset: integer >= 0, epoch: string}`);
  }
  return { offset: raw.offset, epoch: raw.epoch };
}

function presenceDataOf(raw: unknown, method: string, required: boolean): PresenceData | undefined {
  if (raw === undefined || (raw === null && !required)) {
    if (required) throw new BadParam(`${method}: "data" is required`);
    return undefined;
  }
  if (!isObject(raw)) throw new BadParam(`${method}: "data" must be an object`);
  return raw;
}

/** Standard base64 with padding, nothing else (Buffer's decoder would skip any other character). */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** True for `encoding: "base64"` with a base64 string `data`; a publish without `encoding` is JSON. */
function base64Of(params: Fields): boolean {
  const encoding = params.encoding;
  if (encoding === undefined || encoding === null) return false;
  if (encoding !== 'base64') throw new BadParam('publish: "encoding" must be "base64"');
  if (typeof params.data !== 'string' || !BASE64.test(params.data)) {
    throw new BadParam('publish: with "encoding": "base64", "data" must be a base64 string');
  }
  return true;
}

function optionalString(params: Fields, key: string, method: string): string | undefined {
  const value = params[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new BadParam(`${method}: "${key}" must be a string`);
  return value;
}

function requestOf(method: JsonMethod, id: JsonId, params: Fields): JsonRequest {
  switch (method) {
    case 'connect':
      return { method, id, token: optionalString(params, 'token', method) };
    case 'subscribe':
      return {
        method,
        id,
        channel: channelOf(params, method),
        recover: positionOf(params.recover, 'subscribe: "recover"'),
      };
    case 'unsubscribe':
    case 'presence':
    case 'presence_leave':
      return { method, id, channel: channelOf(params, method) };
    case 'publish': {
      const channel = channelOf(params, method);
      if (!Object.hasOwn(params, 'data')) throw new BadParam('publish: "data" is required');
      const event = optionalString(params, 'event', method);
      return { method, id, channel, data: params.data, event, base64: base64Of(params) };
    }
    case 'presence_join':
      return {
        method,
        id,
        channel: channelOf(params, method),
        data: presenceDataOf(params.data, method, false),
      };
    case 'presence_update':
      return {
        method,
        id,
        channel: channelOf(params, method),
        data: presenceDataOf(params.data, method, true) as PresenceData,
      };
    case 'history': {
      const channel = channelOf(params, method);
      const since = positionOf(params.since, 'history: "since"');
      const limit = params.limit;
      if (limit !== undefined && limit !== null) {
        if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_HISTORY_LIMIT) {
          throw new BadParam(`history: "limit" must be an integer from 1 to ${MAX_HISTORY_LIMIT}`);
        }
        return { method, id, channel, since, limit };
      }
      return { method, id, channel, since, limit: undefined };
    }
    case 'ping':
      return { method, id };
  }
}

/**
 * Reads one text message as a request `{"id", "method", "params"}`. Never throws: anything
 * wrong becomes a JsonRequestError carrying the code, message and (when readable) id.
 * Unknown extra keys are ignored, as in the native protocol.
 */
export function parseRequest(text: Buffer, maxRequestBytes: number): JsonRequest | JsonRequestError {
  if (text.length > maxRequestBytes) {
    return new JsonRequestError(
      JsonCode.TooLarge,
      `request of ${text.length} bytes exceeds ${maxRequestBytes}`,
      null,
      'invalid',
    );
  }
  if (nestsDeeperThan(text, MAX_JSON_DEPTH)) {
    return new JsonRequestError(
      JsonCode.BadRequest,
      `request nests deeper than ${MAX_JSON_DEPTH} levels`,
      null,
      'invalid',
    );
  }
  let message: unknown;
  try {
    message = JSON.parse(text.toString('utf8'));
  } catch {
    return new JsonRequestError(JsonCode.BadRequest, 'request is not valid JSON', null, 'invalid');
  }
  if (!isObject(message)) {
    return new JsonRequestError(JsonCode.BadRequest, 'request must be a JSON object', null, 'invalid');
  }
  const rawId = message.id;
  const id = isId(rawId) ? rawId : null;
  const method = message.method;
  if (id === null) {
    const why =
      rawId === undefined || rawId === null
        ? '"id" is required'
        : `"id" must be an integer >= 0 or a string of at most ${MAX_ID_LENGTH} characters`;
    const label = typeof method === 'string' && JSON_METHODS.has(method) ? method : 'invalid';
    return new JsonRequestError(JsonCode.BadRequest, why, null, label);
  }
  if (typeof method !== 'string') {
    return new JsonRequestError(JsonCode.BadRequest, '"method" must be a string', id, 'invalid');
  }
  if (!JSON_METHODS.has(method)) {
    const shown = method.length > 64 ? `${method.slice(0, 64)}...` : method;
    return new JsonRequestError(JsonCode.NotFound, `unknown method ${JSON.stringify(shown)}`, id, 'unknown');
  }
  const params = message.params ?? {};
  if (!isObject(params)) {
    return new JsonRequestError(JsonCode.BadRequest, `${method}: "params" must be an object`, id, method);
  }
  try {
    return requestOf(method as JsonMethod, id, params);
  } catch (err) {
    if (err instanceof BadParam) return new JsonRequestError(JsonCode.BadRequest, err.message, id, method);
    throw err;
  }
}
