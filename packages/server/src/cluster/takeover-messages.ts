import type {
  InflightRecord,
  LoadedSession,
  QueuedRecord,
  Refusal,
  SessionRecord,
  StoredMessage,
  StoredSubscription,
} from '@pulse/core';
import type { UncheckedControl } from './control-bus.js';

/**
 * The control messages of MQTT client ids across nodes (mqtt-takeover.ts, docs/CLUSTER.md
 * "MQTT across nodes"): a claim of a client id, the answer "none here" (or "another user's"),
 * and a session handed over in parts: its record, subscriptions, queue, the messages in flight
 * to the client and the QoS 2 packet ids received from it and not yet released.
 */

export type TakeoverMessage =
  /** "Client id `c` connects here" (`s`: clean start), stamped by time `t` and the sender's id. */
  | { y: 'mt'; k: string; c: string; s: boolean; u?: string; t: number }
  /** No session of claim `k` here ('none'), or one of another user ('owned'). */
  | { y: 'mn'; k: string; r: 'none' | 'owned' }
  /** Part `i` of the session of claim `k`; `f` on the last; the record `h` on part 0. */
  | {
      y: 'ms';
      k: string;
      i: number;
      f: boolean;
      h?: SessionHeader;
      b?: StoredSubscription[];
      q?: QueuedRecord[];
      l?: InflightRecord[];
      r?: number[];
    };

export type SessionHeader = Omit<SessionRecord, 'subscriptions'>;

export const TAKEOVER_TYPES = ['mt', 'mn', 'ms'] as const;

/** Records (subscriptions, queued and inflight messages) in one part; QoS 2 ids count 1/20 each. */
export const PART_RECORDS = 500;
/** Payload bytes in one part, about: a larger message goes alone. */
const PART_BYTES = 256 * 1024;
const MAX_KEY = 64;
const MAX_SUBSCRIPTION_ID = 268_435_455;

const isMap = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
const isQos = (v: unknown): v is 0 | 1 | 2 => v === 0 || v === 1 || v === 2;
const isInt = (v: unknown, min: number, max: number): v is number =>
  Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max;
const isPacketId = (v: unknown): v is number => isInt(v, 1, 65_535);

type Part = Extract<TakeoverMessage, { y: 'ms' }> &
  Required<Pick<Extract<TakeoverMessage, { y: 'ms' }>, 'b' | 'q' | 'l' | 'r'>>;

/** The parts that carry `loaded` for claim `k`, in order. */
export function sessionParts(k: string, loaded: LoadedSession): TakeoverMessage[] {
  const { subscriptions, ...header } = loaded.session;
  const parts: TakeoverMessage[] = [];
  const newPart = (i: number): Part => ({ y: 'ms', k, i, f: false, b: [], q: [], l: [], r: [] });
  let part = newPart(0);
  part.h = header;
  let records = 0;
  let bytes = 0;
  /** The part with room for one more record of `size` bytes and `weight`. */
  const room = (size: number, weight: number): Part => {
    if (records + weight > PART_RECORDS || (records > 0 && bytes + size > PART_BYTES)) {
      parts.push(part);
      part = newPart(parts.length);
      records = 0;
      bytes = 0;
    }
    records += weight;
    bytes += size;
    return part;
  };
  for (const s of subscriptions) room(s.filter.length, 1).b.push(s);
  for (const q of loaded.queue) room(q.message.payload.length + q.message.channel.length, 1).q.push(q);
  for (const l of loaded.inflight) room(l.message.payload.length + l.message.channel.length, 1).l.push(l);
  for (const id of loaded.incomingQos2) room(0, 1 / 20).r.push(id);
  part.f = true;
  parts.push(part);
  return parts;
}

export interface TransferRules {
  checkTopic(topic: string): Refusal | undefined;
  /** mqtt.max_packet_size: no message handed over is larger. */
  maxPayloadBytes: number;
}

function messageProblem(v: unknown, rules: TransferRules): string | undefined {
  if (!isMap(v)) return 'message not a map';
  if (typeof v.channel !== 'string' || rules.checkTopic(v.channel) !== undefined) return 'bad message topic';
  if (!(v.payload instanceof Uint8Array) || v.payload.length > rules.maxPayloadBytes) return 'bad payload';
  if (!isQos(v.qos) || typeof v.retain !== 'boolean') return 'bad message qos or retain';
  if (v.event !== undefined && typeof v.event !== 'string') return 'bad message event';
  if (v.properties !== undefined && !isMap(v.properties)) return 'bad message properties';
  if (v.expiresAt !== undefined && !Number.isFinite(v.expiresAt)) return 'bad message expiry';
  return undefined;
}

function deliveryProblem(v: unknown, rules: TransferRules, inflight: boolean): string | undefined {
  if (!isMap(v)) return 'record not a map';
  const problem = messageProblem(v.message, rules);
  if (problem !== undefined) return problem;
  // In flight: QoS 1 or 2 only (QoS 0 is never acknowledged); queued: any.
  if (!isQos(v.qos) || (inflight && v.qos === 0) || typeof v.retain !== 'boolean')
    return 'bad delivery qos or retain';
  const ids = v.subscriptionIds;
  if (
    ids !== undefined &&
    (!Array.isArray(ids) || ids.length > 64 || !ids.every((id) => isInt(id, 1, MAX_SUBSCRIPTION_ID)))
  )
    return 'bad subscription identifiers';
  return undefined;
}

function subscriptionProblem(v: unknown): string | undefined {
  if (!isMap(v) || typeof v.filter !== 'string' || v.filter === '') return 'bad subscription';
  if (!isQos(v.qos) || typeof v.noLocal !== 'boolean' || typeof v.retainAsPublished !== 'boolean')
    return 'bad subscription options';
  if (!isQos(v.retainHandling)) return 'bad retain handling';
  if (v.subscriptionId !== undefined && !isInt(v.subscriptionId, 1, MAX_SUBSCRIPTION_ID))
    return 'bad subscription identifier';
  return undefined;
}

function headerProblem(v: unknown): string | undefined {
  if (!isMap(v) || typeof v.clientId !== 'string') return 'bad session record';
  if (!isInt(v.expiryInterval, 0, 0xffff_ffff)) return 'bad session expiry';
  if (v.user !== undefined && typeof v.user !== 'string') return 'bad session user';
  if (v.expiresAt !== undefined && !Number.isFinite(v.expiresAt)) return 'bad session expiry time';
  return undefined;
}

function listProblem(v: unknown, each: (item: unknown) => string | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length > PART_RECORDS * 20) return 'bad list';
  for (const item of v) {
    const problem = each(item);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

/** A takeover control message, or why it is not one (every field checked: the engine server is shared). */
export function checkTakeoverMessage(c: UncheckedControl, rules: TransferRules): TakeoverMessage | string {
  if (typeof c.k !== 'string' || c.k.length > MAX_KEY) return 'takeover: bad claim id';
  switch (c.y) {
    case 'mt':
      if (typeof c.c !== 'string' || c.c.length > 65_535 || typeof c.s !== 'boolean') return 'bad claim';
      if ((c.u !== undefined && typeof c.u !== 'string') || !Number.isSafeInteger(c.t)) return 'bad claim';
      return c as TakeoverMessage;
    case 'mn':
      return c.r === 'none' || c.r === 'owned' ? (c as TakeoverMessage) : 'bad claim answer';
    case 'ms': {
      if (!isInt(c.i, 0, Number.MAX_SAFE_INTEGER) || typeof c.f !== 'boolean') return 'bad session part';
      if (c.i === 0 ? headerProblem(c.h) !== undefined : c.h !== undefined) return 'bad session record';
      const problem =
        listProblem(c.b, subscriptionProblem) ??
        listProblem(c.q, (q) => {
          if (!isMap(q) || !isInt(q.seq, 0, Number.MAX_SAFE_INTEGER)) return 'bad queued record';
          return deliveryProblem(q, rules, false);
        }) ??
        listProblem(c.l, (l) => {
          if (!isMap(l) || !isPacketId(l.packetId) || (l.state !== 'publish' && l.state !== 'pubrel'))
            return 'bad inflight record';
          return deliveryProblem(l, rules, true);
        }) ??
        listProblem(c.r, (id) => (isPacketId(id) ? undefined : 'bad packet id'));
      return problem ?? (c as TakeoverMessage);
    }
    default:
      return `not a takeover message: ${JSON.stringify(c.y).slice(0, 40)}`;
  }
}

/** What one part adds to a transfer: bytes of payload and topics, and records. */
export function partSize(part: Extract<TakeoverMessage, { y: 'ms' }>): { bytes: number; records: number } {
  let bytes = 0;
  let records = (part.b?.length ?? 0) + (part.r?.length ?? 0);
  const add = (m: StoredMessage) => {
    bytes += m.payload.length + m.channel.length;
    records++;
  };
  for (const s of part.b ?? []) bytes += s.filter.length;
  for (const q of part.q ?? []) add(q.message);
  for (const l of part.l ?? []) add(l.message);
  return { bytes, records };
}
