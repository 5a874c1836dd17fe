import type { UncheckedControl } from './control-bus.js';

/**
 * The control messages of shared groups across nodes (docs/CLUSTER.md, "Shared groups"): which
 * `$share/{group}/{filter}` groups have members on which node, and the part of a publication's
 * envelope that says which node delivers it to which group.
 */

/** Group ids in one message (a list part, an assignment). */
export const MAX_IDS_PER_MESSAGE = 1000;
/** Bytes of group ids in one list part, about (a part may pass it by one id). */
export const LIST_PART_BYTES = 64 * 1024;
/** The longest group id accepted: `$share/` + a group + an MQTT filter of 65,535 bytes. */
export const MAX_GROUP_ID_LENGTH = 70_000;

export type ShareGroupMessage =
  /** Groups that got their first member on the sending node. */
  | { y: 'ga'; i: string[] }
  /** Groups that lost their last member there. */
  | { y: 'gd'; i: string[] }
  /** "Tell me your groups": a node that (re)joined. */
  | { y: 'gq' }
  /** Part `n` of the sender's whole list; `f` on the last part; replaces what was known. */
  | { y: 'gs'; n: number; f: boolean; i: string[] };

export const SHARE_GROUP_TYPES = ['ga', 'gd', 'gq', 'gs'] as const;

const isGroupId = (v: unknown): v is string =>
  typeof v === 'string' && v.startsWith('$share/') && v.length <= MAX_GROUP_ID_LENGTH;

/** An array of at most MAX_IDS_PER_MESSAGE group ids. */
export function isGroupIds(v: unknown): v is string[] {
  return Array.isArray(v) && v.length <= MAX_IDS_PER_MESSAGE && v.every(isGroupId);
}

/** A shared group control message, or why it is not one. */
export function checkShareGroupMessage(c: UncheckedControl): ShareGroupMessage | string {
  switch (c.y) {
    case 'ga':
    case 'gd':
      return isGroupIds(c.i) ? (c as ShareGroupMessage) : 'bad group list';
    case 'gq':
      return c as ShareGroupMessage;
    case 'gs':
      return Number.isSafeInteger(c.n) && typeof c.f === 'boolean' && isGroupIds(c.i)
        ? (c as ShareGroupMessage)
        : 'bad group list part';
    default:
      return `not a shared group message: ${JSON.stringify(c.y).slice(0, 40)}`;
  }
}

/**
 * Which node delivers a publication to which group: node id → group ids. A group a node holds
 * that is in no list here was unknown to the publishing node: that node delivers it.
 */
export type ShareAssignment = Record<string, string[]>;

/** The `g` field of an envelope, or why it is not one (at most MAX_IDS_PER_MESSAGE ids in all). */
export function checkShareAssignment(v: unknown): ShareAssignment | string {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) {
    return 'bad group assignment';
  }
  let count = 0;
  for (const ids of Object.values(v)) {
    if (!isGroupIds(ids)) return 'bad group assignment';
    count += ids.length;
    if (count > MAX_IDS_PER_MESSAGE) return 'group assignment too long';
  }
  return v as ShareAssignment;
}
