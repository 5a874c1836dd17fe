export {
  type ClientOptions,
  type HistoryOptions,
  type HistoryResult,
  type PresenceEvent,
  type Publication,
  PulseClient,
  type StreamPosition,
  type SubscribeOptions,
  type SubscribeResult,
} from './client.js';
export { PulseError } from './errors.js';
export { filterMatches, subscriptionMatches } from './filter-match.js';
export { encodeFrame, FrameSplitter } from './framing.js';
export { type ClientTransport, Inlet, type WebSocketConstructor, type WebSocketLike } from './transport.js';
export { type FetchLike, type HttpStreamOptions, openHttpStream } from './http-transport.js';
