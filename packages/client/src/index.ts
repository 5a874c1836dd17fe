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
export { reconnectDelay } from './backoff.js';
export { type DisconnectInfo, type DisconnectReason, TERMINAL_REASONS } from './disconnect-reason.js';
export { type ClientErrorKind, PulseClientError, PulseError } from './errors.js';
export { filterMatches, subscriptionMatches } from './filter-match.js';
export { encodeFrame, FrameSplitter } from './framing.js';
export type { NetworkEvents } from './network-events.js';
export { type ConnectionState, Pulse, type PulseEvents, type PulseOptions } from './pulse.js';
export {
  type SubscribedContext,
  Subscription,
  type SubscriptionEvents,
  type SubscriptionOptions,
  type SubscriptionState,
  type UnsubscribedContext,
} from './subscription.js';
export { tokenExpiresAt } from './token-expiry.js';
export { type ClientTransport, Inlet, type WebSocketConstructor, type WebSocketLike } from './transport.js';
export {
  type TransportFactory,
  type WebSocketProtocol,
  jsonWebSocketTransport,
  webSocketTransport,
} from './transports.js';
export { openJsonWebSocket } from './json-transport.js';
export { type FetchLike, type HttpStreamOptions, openHttpStream } from './http-transport.js';
