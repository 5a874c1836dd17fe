import { MAX_FRAME_SIZE } from '@pulse/protocol';
import type { Rng } from './fuzz-settings.js';
import { hostileValue, hostileValueOf, mutate } from './hostile-msgpack.js';
import * as mp from './msgpack-raw.js';

/** Native frames as a hostile client writes them: length prefix, then a map of any fields. */

export interface Input {
  what: string;
  bytes: Buffer;
  /** Written as it is, below the transport's framing (a WebSocket frame of its own, an HTTP request). */
  raw?: boolean;
}

/** `body` behind a length prefix that says `declared` (the body's length unless told otherwise). */
export function prefixed(body: Uint8Array, declared = body.length): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(declared >>> 0);
  return Buffer.concat([head, body]);
}

export const nativeFrame = (fields: Record<string, Buffer>) => prefixed(mp.map(fields));

export const connectFrame = (token: string) =>
  nativeFrame({ type: mp.str('connect'), version: mp.int(1), token: mp.str(token) });

export const subscribeFrame = (channel: string, id = 1) =>
  nativeFrame({ type: mp.str('subscribe'), id: mp.int(id), channel: mp.str(channel) });

/**
 * A channel the attacker's token allows, most of the time its connection's `home` (where it
 * subscribed, so that its presence events and publications are encoded for it); one it may
 * not use, or a deep one, sometimes.
 */
function channel(rng: Rng, home?: string): Buffer {
  if (home && rng.bool(0.6)) return mp.str(home);
  switch (rng.int(10)) {
    case 0:
      return mp.str(Array(5000).fill('+').join('/'));
    case 1:
      return mp.str(
        `attack/${Array(rng.pick([200, 5000]))
          .fill('a')
          .join('/')}`,
      );
    case 2:
      return mp.str(
        rng.pick(['bystander/native', 'bystander/#', '#', '$SYS/#', `$share/g${rng.int(50)}/attack/#`]),
      );
    case 3:
      return hostileValue(rng);
    default:
      return mp.str(`attack/${rng.pick(['p', 'q', 'x/y'])}${rng.int(8)}`);
  }
}

const PRESENCE = { join: 0, leave: 1, update: 2, sync: 3 };

function presence(
  rng: Rng,
  home: string | undefined,
  action: keyof typeof PRESENCE,
  data?: Buffer,
  kind?: string,
): Input {
  const fields: Record<string, Buffer> = {
    type: mp.str('presence'),
    id: mp.int(rng.int(1000)),
    channel: channel(rng, home),
    action: mp.int(PRESENCE[action]),
  };
  if (data) fields.data = data;
  return { what: `presence ${action}${kind ? ` (${kind})` : ''}`, bytes: nativeFrame(fields) };
}

/** One frame for an attacker past authentication, most of them aimed at presence and publish (see `channel` for `home`). */
export function nativeInput(rng: Rng, home?: string): Input {
  const id = mp.int(rng.int(1_000_000));
  switch (rng.int(14)) {
    case 0:
    case 1: {
      const v = hostileValueOf(rng);
      return presence(rng, home, 'join', mp.map({ v: v.bytes }), v.kind);
    }
    case 2: {
      const v = hostileValueOf(rng);
      return presence(rng, home, 'update', mp.map({ v: v.bytes, w: hostileValue(rng) }), v.kind);
    }
    case 3:
      return presence(rng, home, 'sync');
    case 4:
      return presence(
        rng,
        home,
        rng.pick(['leave', 'join'] as const),
        rng.bool() ? hostileValue(rng) : undefined,
      );
    case 5:
      return {
        what: 'publish',
        bytes: nativeFrame({
          type: mp.str('publish'),
          id,
          channel: channel(rng, home),
          payload: rng.bool() ? hostileValue(rng) : mp.bin(rng.bytes(rng.range(0, 256))),
          ...(rng.bool(0.3) ? { event: hostileValue(rng) } : {}),
        }),
      };
    case 6:
      return {
        what: 'subscribe',
        bytes: nativeFrame({
          type: mp.str('subscribe'),
          id,
          channel: channel(rng, home),
          ...(rng.bool(0.3) ? { recover: hostileValue(rng) } : {}),
        }),
      };
    case 7:
      return {
        what: 'history',
        bytes: nativeFrame({
          type: mp.int(11),
          id,
          channel: channel(rng, home),
          since: rng.bool() ? hostileValue(rng) : mp.map({ offset: mp.int(rng.u32()), epoch: mp.str('e') }),
          limit: rng.bool() ? hostileValue(rng) : mp.int(rng.range(0, 2000)),
        }),
      };
    case 8:
      // Any field hostile: type, id, the map's own keys.
      return {
        what: 'hostile fields',
        bytes: nativeFrame({
          type: rng.bool() ? hostileValue(rng) : mp.int(rng.range(0, 12)),
          id: hostileValue(rng),
          channel: hostileValue(rng),
          action: hostileValue(rng),
          data: hostileValue(rng),
        }),
      };
    case 9:
      return { what: 'hostile frame', bytes: prefixed(hostileValue(rng)) };
    case 10:
      return { what: 'mutated', bytes: mutate(rng, nativeInput(rng, home).bytes) };
    case 11:
      return {
        what: 'ping',
        bytes: nativeFrame({
          type: mp.str(rng.pick(['ping', 'pong', 'ack', 'error', 'connected'])),
          timestamp: hostileValue(rng),
          id,
        }),
      };
    case 12:
      return {
        what: 'connect again',
        bytes: nativeFrame({
          type: mp.str('connect'),
          version: rng.bool() ? mp.int(1) : hostileValue(rng),
          token: hostileValue(rng),
        }),
      };
    default:
      return {
        what: 'unsubscribe',
        bytes: nativeFrame({ type: mp.str('unsubscribe'), id, channel: channel(rng, home) }),
      };
  }
}

/** A length prefix that announces much more than follows: the connection's last input. */
export function hugeDeclaredFrame(rng: Rng): Input {
  const declared = rng.pick([0xffffffff, MAX_FRAME_SIZE, MAX_FRAME_SIZE - 1, MAX_FRAME_SIZE + 1, 0x80000000]);
  return {
    what: `frame declaring ${declared} bytes`,
    bytes: prefixed(rng.bytes(rng.range(0, 64)), declared),
  };
}
