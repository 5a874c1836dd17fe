import { type ClientTransport, type WebSocketConstructor, openWebSocket } from './transport.js';

/**
 * Opens one transport to `url` (the URL given to `Pulse`). The reconnecting client tries its
 * factories in order on every attempt and runs the native protocol over the first that opens,
 * e.g. `[webSocketTransport(WebSocket), (url) => openHttpStream(httpUrlOf(url))]`.
 */
export type TransportFactory = (url: string) => Promise<ClientTransport>;

/** WebSocket with the native binary protocol; `Ctor` defaults to the global WebSocket. */
export function webSocketTransport(Ctor?: WebSocketConstructor): TransportFactory {
  return (url) => {
    const WebSocket = Ctor ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WebSocket) {
      return Promise.reject(
        new Error('no WebSocket implementation: pass options.WebSocket (e.g. the "ws" package)'),
      );
    }
    return openWebSocket(url, WebSocket);
  };
}
