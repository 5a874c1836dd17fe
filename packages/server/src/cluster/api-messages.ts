import type { UncheckedControl } from './control-bus.js';

/**
 * The control messages that let the HTTP API answer for the cluster (docs/CLUSTER.md, "HTTP
 * API across nodes"): a question to every node (`cq` channel listing, `dq` disconnect), each
 * answer addressed to the asking node and tied to its question by the number `r`.
 */

/** Entries in one listing part. */
export const LISTING_PART_ENTRIES = 1000;
/** Bytes of names in one listing part, about (a part may pass it by one name). */
export const LISTING_PART_BYTES = 64 * 1024;
/** The longest name in a listing (an MQTT filter is at most 65,535 bytes). */
const MAX_NAME_LENGTH = 70_000;
/** The longest prefix or client match string asked for. */
const MAX_QUERY_STRING = 65_535;

/** A channel or filter and its subscriber count on the answering node. */
export type ListingEntry = [string, number];

/** Who to disconnect: connection id, MQTT client id or user (one of them). */
export interface WireMatch {
  i?: string;
  c?: string;
  u?: string;
}

export type ApiMessage =
  /** "Your channels starting with `p`", question number `r`. */
  | { y: 'cq'; r: number; p: string }
  /** Part of the answer: channels `c`, wildcard filters `w`; `f` on the last part; `t` when some were left out. */
  | { y: 'cr'; r: number; f: boolean; t?: boolean; c: ListingEntry[]; w: ListingEntry[] }
  /** "Disconnect the clients `m` names." */
  | { y: 'dq'; r: number; m: WireMatch }
  /** How many it disconnected. */
  | { y: 'dr'; r: number; n: number };

export const API_TYPES = ['cq', 'cr', 'dq', 'dr'] as const;

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isQueryString = (v: unknown): v is string => typeof v === 'string' && v.length <= MAX_QUERY_STRING;
const isOptionalString = (v: unknown) => v === undefined || v === null || isQueryString(v);

function isEntries(v: unknown): v is ListingEntry[] {
  return (
    Array.isArray(v) &&
    v.length <= LISTING_PART_ENTRIES &&
    v.every(
      (e) =>
        Array.isArray(e) &&
        e.length === 2 &&
        typeof e[0] === 'string' &&
        e[0].length <= MAX_NAME_LENGTH &&
        isCount(e[1]),
    )
  );
}

function isMatch(v: unknown): v is WireMatch {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const m = v as Record<string, unknown>;
  const given = [m.i, m.c, m.u].filter((s) => s !== undefined && s !== null).length;
  return given === 1 && isOptionalString(m.i) && isOptionalString(m.c) && isOptionalString(m.u);
}

/** An API control message, or why it is not one. */
export function checkApiMessage(c: UncheckedControl): ApiMessage | string {
  if (!isCount(c.r)) return 'bad request number';
  switch (c.y) {
    case 'cq':
      return isQueryString(c.p) ? (c as ApiMessage) : 'bad channel listing request';
    case 'cr':
      return typeof c.f === 'boolean' &&
        (c.t === undefined || c.t === null || typeof c.t === 'boolean') &&
        isEntries(c.c) &&
        isEntries(c.w)
        ? (c as ApiMessage)
        : 'bad channel listing part';
    case 'dq':
      return isMatch(c.m) ? (c as ApiMessage) : 'bad disconnect request';
    case 'dr':
      return isCount(c.n) ? (c as ApiMessage) : 'bad disconnect answer';
    default:
      return `not an API message: ${JSON.stringify(c.y).slice(0, 40)}`;
  }
}
