import { Publication, type Refusal } from '@pulse/core';
import type { UncheckedControl } from './control-bus.js';

/**
 * The control messages of retained messages across nodes (mqtt-retained-sync.ts,
 * docs/CLUSTER.md "MQTT across nodes"): one change, a request for a node's whole set, and a
 * part of a set. Every entry carries the stamp that orders writes cluster-wide.
 */

/** Entries in one part of a set. */
export const RETAINED_PART_ENTRIES = 500;

/** Which write of a channel's retained message is the latest: time first, then node id. */
export interface Stamp {
  readonly t: number;
  readonly o: string;
}

export const isNewer = (a: Stamp, b: Stamp): boolean => a.t > b.t || (a.t === b.t && a.o > b.o);

/** A stamp of node `o` newer than every one of time `t` or earlier: now, or just after `t` (Lamport). */
export const stampAfter = (t: number, o: string): Stamp => ({ t: Math.max(Date.now(), t + 1), o });

/** One channel's retained message (`d` empty: cleared), with its stamp. */
export interface RetainedEntry {
  c: string;
  d: Uint8Array;
  q?: 0 | 1 | 2;
  p?: Record<string, unknown>;
  x?: number;
  t: number;
  o: string;
}

export type RetainedMessage =
  /** A client set or cleared one here. */
  | { y: 'mr'; e: RetainedEntry }
  /** "Send me your retained messages": a node that (re)joined. */
  | { y: 'mq' }
  /** Part of a node's set (its clearings too, so that a stale copy elsewhere goes). */
  | { y: 'mp'; m: RetainedEntry[] };

export const RETAINED_TYPES = ['mr', 'mq', 'mp'] as const;

export function entryOf(publication: Publication, stamp: Stamp): RetainedEntry {
  return {
    c: publication.channel,
    d: publication.payload,
    q: publication.qos === 0 ? undefined : publication.qos,
    p: publication.properties,
    x: publication.expiresAt,
    t: stamp.t,
    o: stamp.o,
  };
}

export function publicationOfEntry(e: RetainedEntry): Publication {
  return new Publication({
    channel: e.c,
    payload: e.d,
    qos: e.q ?? 0,
    retain: true,
    properties: e.p,
    expiresAt: e.x,
  });
}

export interface EntryRules {
  /** The receiving node's topic rules (checkMqttTopic, limits.max_channel_length and limits.max_topic_levels). */
  checkTopic(topic: string): Refusal | undefined;
  /** mqtt.max_packet_size: no retained payload is larger. */
  maxPayloadBytes: number;
}

const isMap = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);

/** Node ids are short (cluster.ts makes 12 characters); a stamp's longer than this is refused. */
const MAX_NODE_ID = 64;

function entryProblem(v: unknown, rules: EntryRules): string | undefined {
  if (!isMap(v)) return 'retained entry not a map';
  if (typeof v.c !== 'string' || rules.checkTopic(v.c) !== undefined) return 'retained entry: bad topic';
  if (!(v.d instanceof Uint8Array) || v.d.length > rules.maxPayloadBytes)
    return 'retained entry: bad payload';
  if (v.q !== undefined && v.q !== 1 && v.q !== 2) return 'retained entry: bad qos';
  if (v.p !== undefined && !isMap(v.p)) return 'retained entry: bad properties';
  if (v.x !== undefined && !Number.isFinite(v.x)) return 'retained entry: bad expiry';
  if (!Number.isSafeInteger(v.t) || (v.t as number) < 0 || v.t === Number.MAX_SAFE_INTEGER)
    return 'retained entry: bad time';
  if (typeof v.o !== 'string' || v.o.length > MAX_NODE_ID) return 'retained entry: bad node';
  return undefined;
}

/** A retained control message, or why it is not one. */
export function checkRetainedMessage(c: UncheckedControl, rules: EntryRules): RetainedMessage | string {
  switch (c.y) {
    case 'mr':
      return entryProblem(c.e, rules) ?? (c as RetainedMessage);
    case 'mq':
      return c as RetainedMessage;
    case 'mp': {
      if (!Array.isArray(c.m) || c.m.length > RETAINED_PART_ENTRIES) return 'bad retained part';
      for (const e of c.m) {
        const problem = entryProblem(e, rules);
        if (problem !== undefined) return problem;
      }
      return c as RetainedMessage;
    }
    default:
      return `not a retained message: ${JSON.stringify(c.y).slice(0, 40)}`;
  }
}
