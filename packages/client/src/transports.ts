import { openJsonWebSocket } from './json-transport.js';
import { type ClientTransport, type WebSocketConstructor, openWebSocket } from './transport.js';

/**
 * Opens one transport to `url` (the URL given to `Pulse`). The reconnecting client tries its
 * factories in order on every attempt and runs the native protocol over the first that opens,
 * e.g. `[webSocketTransport(WebSocket), (url, signal) => openHttpStream(httpUrlOf(url), { signal })]`.
 * `Pulse` passes a `signal` that aborts when the attempt gives the opening up
 * (`connectTimeoutMs`, `close()`): the factory should then let go of what it was opening.
 */
export type TransportFactory = (url: string, signal?: AbortSignal) => Promise<ClientTransport>;

/** The protocol spoken on a WebSocket: native MessagePack frames (default) or JSON text messages. */
export type WebSocketProtocol = 'native' | 'json';

/** `Ctor`, else the global WebSocket; throws when there is neither. */
export function webSocketConstructor(Ctor?: WebSocketConstructor): WebSocketConstructor {
  const WebSocket = Ctor ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!WebSocket)
    throw new Error('no WebSocket implementation: pass options.WebSocket (e.g. the "ws" package)');
  return WebSocket;
}

/** Opens a WebSocket speaking `protocol` (see openWebSocket, openJsonWebSocket). */
export function openWebSocketWith(
  url: string,
  Ctor: WebSocketConstructor,
  protocol: WebSocketProtocol = 'native',
  signal?: AbortSignal,
): Promise<ClientTransport> {
  return protocol === 'json' ? openJsonWebSocket(url, Ctor, signal) : openWebSocket(url, Ctor, signal);
}

/** WebSocket with the native binary protocol; `Ctor` defaults to the global WebSocket. */
export function webSocketTransport(Ctor?: WebSocketConstructor): TransportFactory {
  return async (url, signal) => openWebSocket(url, webSocketConstructor(Ctor), signal);
}

/** WebSocket with the JSON protocol (docs/PROTOCOL.md, "JSON protocol"); `Ctor` as above. */
export function jsonWebSocketTransport(Ctor?: WebSocketConstructor): TransportFactory {
  return async (url, signal) => openJsonWebSocket(url, webSocketConstructor(Ctor), signal);
}
