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

/** A stored message as a publication to route or deliver again. */
export function publicationOf(message: StoredMessage): Publication {
  const publication = new Publication(message);
  publication.stored = message;
  return publication;
}
