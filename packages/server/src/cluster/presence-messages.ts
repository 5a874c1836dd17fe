import type { UncheckedControl } from './control-bus.js';

/**
 * The control messages of presence (control-bus.ts): changes, liveness, and member lists
 * (docs/CLUSTER.md, "Presence"). Presence data travels as MessagePack bytes of its own,
 * decoded with its own nesting bound, so that a member's data (30 levels deep at most) never
 * makes the envelope deeper than a frame may be.
 */

/** Members in one snapshot message. */
export const SNAPSHOT_CHUNK_MEMBERS = 500;

/** One member in a snapshot: channel, connection id, user, data (MessagePack), data size. */
export type SnapshotMember = [string, string, string | null, Uint8Array | null, number];

export type PresenceMessage =
  /** A member joined or changed its data (the receiver knows which). */
  | { y: 'j'; c: string; i: string; u?: string; d?: Uint8Array; b: number }
  | { y: 'l'; c: string; i: string }
  /** Still here: members of a node silent for cluster.presence_ttl_ms leave. */
  | { y: 'a' }
  /**
   * "Tell me your members": a node that (re)joined (to all; its own list follows), or, `r`, a
   * node that had forgotten this one's members (to it only).
   */
  | { y: 'h'; r?: boolean }
  /** Part of a node's member list; `f` on the last part; `n` numbers the list. */
  | { y: 's'; n: number; f: boolean; m: SnapshotMember[] }
  /** Leaving for good (graceful stop): its members leave now. */
  | { y: 'b' };

const isString = (v: unknown): v is string => typeof v === 'string';
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isOptional = (v: unknown, test: (v: unknown) => boolean) => v === undefined || v === null || test(v);
const isBytes = (v: unknown): v is Uint8Array => v instanceof Uint8Array;

function isMember(v: unknown): v is SnapshotMember {
  return (
    Array.isArray(v) &&
    v.length === 5 &&
    isString(v[0]) &&
    isString(v[1]) &&
    isOptional(v[2], isString) &&
    isOptional(v[3], isBytes) &&
    isCount(v[4])
  );
}

export const PRESENCE_TYPES = ['j', 'l', 'a', 'h', 's', 'b'] as const;

/** A presence control message, or why it is not one. */
export function checkPresenceMessage(c: UncheckedControl): PresenceMessage | string {
  switch (c.y) {
    case 'j':
      return isString(c.c) &&
        isString(c.i) &&
        isOptional(c.u, isString) &&
        isOptional(c.d, isBytes) &&
        isCount(c.b)
        ? (c as PresenceMessage)
        : 'bad presence join';
    case 'l':
      return isString(c.c) && isString(c.i) ? (c as PresenceMessage) : 'bad presence leave';
    case 'a':
    case 'h':
    case 'b':
      return c as PresenceMessage;
    case 's':
      return isCount(c.n) &&
        typeof c.f === 'boolean' &&
        Array.isArray(c.m) &&
        c.m.length <= SNAPSHOT_CHUNK_MEMBERS &&
        c.m.every(isMember)
        ? (c as PresenceMessage)
        : 'bad member list';
    default:
      return `not a presence message: ${JSON.stringify(c.y).slice(0, 40)}`;
  }
}
