import type { Message, PresenceEvent } from '@pulse/core';
import {
  FRAME_TYPE_IDS,
  type Frame,
  MAX_HEADER_SIZE,
  encodeFrame,
  encodePublishFrame,
} from '@pulse/protocol';
import { NATIVE_RAW_SLOT } from '../encoding-slots.js';
import type { Connection } from '../transport/connection.js';

function presenceFrame(message: PresenceEvent): Frame {
  return {
    type: 'presence',
    channel: message.channel,
    action: message.action,
    connection_id: message.connectionId,
    user: message.user,
    data: message.data,
  };
}

export const frameTypeIdOf = (message: Message): number =>
  message.kind === 'publication' ? FRAME_TYPE_IDS.publish : FRAME_TYPE_IDS.presence;

/**
 * The bytes of `message` as a native frame in `connection`'s framing. The MessagePack map is
 * encoded once per message; each transport's view of it is cut once and then shared by every
 * subscriber on that transport.
 */
export function nativeWireBytes(message: Message, connection: Connection): Buffer {
  const cached = message.encodings[connection.wireSlot];
  if (cached) return cached;
  let raw = message.encodings[NATIVE_RAW_SLOT];
  if (!raw) {
    raw =
      message.kind === 'publication'
        ? encodePublishFrame(message, MAX_HEADER_SIZE)
        : encodeFrame(presenceFrame(message), MAX_HEADER_SIZE);
    message.encodings[NATIVE_RAW_SLOT] = raw;
  }
  const view = connection.wrapNative(raw);
  message.encodings[connection.wireSlot] = view;
  return view;
}
