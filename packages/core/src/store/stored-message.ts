import { Publication } from '../outbound.js';
import type { StoredMessage } from './records.js';

/**
 * The publication as a message at rest, made once per publication however many sessions
 * store it. The payload is shared, not copied: the stored message lives no longer than the
 * session entry that holds the publication itself.
 */
export function storedMessageOf(publication: Publication): StoredMessage {
  if (publication.stored) return publication.stored;
  const message: StoredMessage = {
    channel: publication.channel,
    payload: publication.payload,
    qos: publication.qos,
    retain: publication.retain,
  };
  if (publication.event !== undefined) message.event = publication.event;
  if (publication.properties !== undefined) message.properties = publication.properties;
  if (publication.expiresAt !== undefined) message.expiresAt = publication.expiresAt;
  publication.stored = message;
  return message;
}

/**
 * `publication` itself when its payload owns its memory, else a copy whose payload does: for
 * holders that keep a publication long after its fan-out (retained messages, history), where a
 * view would pin the whole socket read it was cut from.
 */
export function ownedPublication(publication: Publication): Publication {
  const payload = publication.payload;
  if (payload.byteOffset === 0 && payload.byteLength === payload.buffer.byteLength) return publication;
  const { channel, event, qos, retain, properties, publisher, expiresAt } = publication;
  // Not Buffer.from: small copies would land in (and pin) Node's shared 8 KiB pool.
  const owned = Buffer.allocUnsafeSlow(payload.length);
  owned.set(payload);
  const copy = new Publication({
    channel,
    payload: owned,
    event,
    qos,
    retain,
    properties,
    publisher,
    expiresAt,
  });
  copy.offset = publication.offset;
  copy.epoch = publication.epoch;
  return copy;
}

/** A stored message as a publication to route or deliver again. */
export function publicationOf(message: StoredMessage): Publication {
  const publication = new Publication(message);
  publication.stored = message;
  return publication;
}
