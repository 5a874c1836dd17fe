import { type ChannelHistory, type Publication, type StreamPosition, isWildcardFilter } from '@pulse/core';

/** What a subscribe's acknowledgement says of the channel's history, and what follows it. */
export interface SubscribeRecovery {
  /** The acknowledgement's fields; those left undefined are left out. */
  ack: { recovered?: boolean; offset?: number; epoch?: string };
  /** The missed publications in the protocol's framing, to send right after the ack. */
  replay: Buffer[];
}

const NOTHING: SubscribeRecovery = { ack: {}, replay: [] };
const NOT_RECOVERED: SubscribeRecovery = { ack: { recovered: false }, replay: [] };

/**
 * The history side of a subscribe that went through, the same for every protocol: the
 * channel's position, or with `recover` the publications missed since it, encoded by
 * `encode`. Sent in the same turn as the ack, before any live publication can be: nothing is
 * lost or sent twice between them. A replay bigger than `maxBytes` (the room left in the
 * connection's budget) is not sent: the client reloads its state instead.
 */
export function subscribeRecovery(
  history: ChannelHistory | undefined,
  channel: string,
  recover: StreamPosition | undefined,
  encode: (publication: Publication) => Buffer,
  maxBytes: number,
): SubscribeRecovery {
  // No history here (or a wildcard, whose channels have one stream each): nothing to recover.
  if (history === undefined || isWildcardFilter(channel) || history.ruleFor(channel) === undefined) {
    return recover ? NOT_RECOVERED : NOTHING;
  }
  if (!recover) {
    const position = history.position(channel);
    return { ack: { offset: position?.offset, epoch: position?.epoch }, replay: [] };
  }
  const result = history.recover(channel, recover, Date.now());
  if (result === undefined) return NOT_RECOVERED;
  const { offset, epoch } = result;
  const replay: Buffer[] = [];
  let bytes = 0;
  // Encoded until they no longer fit: a long stream costs no more than what can be sent.
  for (const publication of result.publications) {
    const encoded = encode(publication);
    bytes += encoded.length;
    if (bytes > maxBytes) return { ack: { recovered: false, offset, epoch }, replay: [] };
    replay.push(encoded);
  }
  return { ack: { recovered: result.recovered, offset, epoch }, replay };
}
