import { Publication } from '@pulse/core';
import { msgpack, plainMessagePackProblem } from '@pulse/protocol';
import type { OutgoingControl, UncheckedControl } from './control-bus.js';
import { remoteChannelProblem, remoteExpiry, remoteProperties } from './remote-publication.js';
import { type ShareAssignment, checkShareAssignment } from './share-group-messages.js';

/**
 * What crosses the engine for one publication: plain MessagePack (any node, any version of
 * this format, can read it with any decoder), a map of short keys. `o`/`s` let the receiver
 * drop its own publications and duplicates (OriginSequences); `t` measures the lag.
 */
interface EnvelopeFields {
  /** Format version. */
  v: 1;
  /** The publishing node's id (random per process start). */
  o: string;
  /** The publishing node's sequence number, 1, 2, 3… */
  s: number;
  /** Date.now() on the publishing node when it sent. */
  t: number;
  c: string;
  d: Uint8Array;
  e?: string;
  q?: 0 | 1 | 2;
  r?: boolean;
  p?: Record<string, unknown>;
  u?: string;
  x?: number;
  f?: number;
  h?: string;
  /** Which node delivers it to which `$share` group (cluster-share-groups.ts). */
  g?: ShareAssignment;
}

const FORMAT = 1;

export interface Envelope {
  readonly kind: 'publication';
  readonly origin: string;
  readonly seq: number;
  readonly sentAt: number;
  readonly publication: Publication;
  readonly groups: ShareAssignment | undefined;
}

/**
 * A control message (`k: "c"`, body `m`, for node `n` only when set), on CONTROL_CHANNEL; `s`
 * numbers it among the node's publications (a node whose interest has `#` or a first-level
 * `+` gets the control channel through that interest too: a copy is dropped as a duplicate).
 */
export interface ControlEnvelope {
  readonly kind: 'control';
  readonly origin: string;
  /** Undefined from a node that did not number its control messages. */
  readonly seq: number | undefined;
  readonly sentAt: number;
  readonly to: string | undefined;
  /** Checked by the feature that owns its type (control-bus.ts). */
  readonly message: UncheckedControl;
}

export function encodeControl(
  origin: string,
  seq: number,
  message: OutgoingControl,
  to: string | undefined,
): Buffer {
  return msgpack.pack({ v: FORMAT, o: origin, s: seq, t: Date.now(), k: 'c', m: message, n: to });
}

/** The bytes that carry `publication` from node `origin` (its `seq`-th publication). */
export function encodeEnvelope(
  origin: string,
  seq: number,
  publication: Publication,
  groups?: ShareAssignment,
): Buffer {
  const fields: EnvelopeFields = {
    v: FORMAT,
    o: origin,
    s: seq,
    t: Date.now(),
    c: publication.channel,
    d: publication.payload,
    e: publication.event,
    q: publication.qos === 0 ? undefined : publication.qos,
    r: publication.retain ? true : undefined,
    p: publication.properties,
    u: publication.publisher,
    x: publication.expiresAt,
    f: publication.offset,
    h: publication.epoch,
    g: groups,
  };
  return msgpack.pack(fields);
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
const isCount = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
const optional = (v: unknown, type: 'string' | 'number' | 'boolean') => v === undefined || typeof v === type;

/**
 * The envelope in `bytes`, or why it is not one. Another node wrote it, but the engine server
 * is shared infrastructure: the bytes are checked as a client's would be (plain MessagePack,
 * bounded, every field its type) and never trusted to be well formed.
 */
export function decodeEnvelope(bytes: Uint8Array, maxBytes: number): Envelope | ControlEnvelope | string {
  if (bytes.length > maxBytes) return `envelope of ${bytes.length} bytes exceeds ${maxBytes}`;
  const problem = plainMessagePackProblem(bytes);
  if (problem !== undefined) return problem;
  const f = msgpack.unpack(bytes) as Partial<Record<keyof EnvelopeFields | 'k' | 'm' | 'n', unknown>>;
  if (!isObject(f)) return 'not a map';
  if (f.v !== FORMAT) return `unknown envelope format ${String(f.v)}`;
  if (f.k === 'c') {
    if (typeof f.o !== 'string' || !Number.isFinite(f.t)) return 'origin or time missing';
    if (!optional(f.n, 'string')) return 'bad addressee';
    if (f.s !== undefined && !Number.isSafeInteger(f.s)) return 'bad sequence';
    if (!isObject(f.m) || typeof f.m.y !== 'string') return 'control message not a map with a type';
    const message = f.m as UncheckedControl;
    const seq = f.s as number | undefined;
    return {
      kind: 'control',
      origin: f.o,
      seq,
      sentAt: f.t as number,
      to: f.n as string | undefined,
      message,
    };
  }
  if (f.k !== undefined) return 'unknown envelope kind';
  if (typeof f.o !== 'string' || !Number.isSafeInteger(f.s) || !Number.isFinite(f.t)) {
    return 'origin, sequence or time missing';
  }
  if (typeof f.c !== 'string' || f.c === '' || !(f.d instanceof Uint8Array))
    return 'channel or payload missing';
  const channelProblem = remoteChannelProblem(f.c);
  if (channelProblem !== undefined) return channelProblem;
  if (f.q !== undefined && f.q !== 1 && f.q !== 2) return 'bad qos';
  const properties = f.p === undefined ? undefined : isObject(f.p) ? remoteProperties(f.p) : 'bad properties';
  if (typeof properties === 'string') return properties;
  if (
    !optional(f.e, 'string') ||
    !optional(f.r, 'boolean') ||
    !optional(f.u, 'string') ||
    !(f.x === undefined || Number.isSafeInteger(f.x)) ||
    !(f.f === undefined || isCount(f.f)) ||
    !optional(f.h, 'string')
  ) {
    return 'a field of the wrong type';
  }
  const groups = f.g === undefined ? undefined : checkShareAssignment(f.g);
  if (typeof groups === 'string') return groups;
  const publication = new Publication({
    channel: f.c,
    payload: f.d,
    event: f.e as string | undefined,
    qos: (f.q as 1 | 2 | undefined) ?? 0,
    retain: f.r === true,
    properties,
    publisher: f.u as string | undefined,
    expiresAt: f.x === undefined ? undefined : remoteExpiry(f.x as number, Date.now()),
  });
  publication.offset = f.f as number | undefined;
  publication.epoch = f.h as string | undefined;
  return { kind: 'publication', origin: f.o, seq: f.s as number, sentAt: f.t as number, publication, groups };
}
