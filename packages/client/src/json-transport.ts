import { encodeFrame } from './framing.js';
import { JsonBridge } from './json-bridge.js';
import { type ClientTransport, Inlet, type WebSocketConstructor, closeOnAbort } from './transport.js';

/**
 * Opens a WebSocket speaking the JSON protocol (docs/PROTOCOL.md, "JSON protocol") and
 * resolves once it is open. The transport carries native frames like the others (see
 * JsonBridge), so `PulseClient.over` and `Pulse` run over it unchanged. Binary messages (the
 * native `connected` and pings every `/ws` socket gets) are ignored.
 */
export function openJsonWebSocket(
  url: string,
  Ctor: WebSocketConstructor,
  signal?: AbortSignal,
): Promise<ClientTransport> {
  return new Promise((resolve, reject) => {
    const ws = new Ctor(url);
    ws.binaryType = 'arraybuffer';
    const opened = closeOnAbort(ws, signal);
    const inlet = new Inlet();
    const bridge = new JsonBridge(
      (text) => ws.send(text),
      (bytes) => inlet.bytes(bytes),
    );
    let failed = false;
    const transport: ClientTransport = {
      send: (bytes) => {
        if (!failed) bridge.fromClient(bytes);
      },
      close: () => ws.close(1000),
      attach: (onBytes, onClose) => {
        inlet.attach(onBytes, onClose);
        // After the client's own `connect`, which it sends right after attaching when it has a token.
        queueMicrotask(() => {
          if (!failed) bridge.ensureConnect();
        });
      },
    };
    ws.onopen = () => {
      opened();
      resolve(transport);
    };
    ws.onerror = () => reject(new Error(`cannot connect to ${url}`));
    ws.onmessage = (ev) => {
      if (failed || typeof ev.data !== 'string') return;
      try {
        bridge.fromServer(ev.data);
      } catch (err) {
        // What the server sent cannot be read: said as the native client says a bad frame.
        failed = true;
        inlet.bytes(encodeFrame({ type: 'error', id: 0, code: 1001, message: (err as Error).message }));
        ws.close(1000);
      }
    };
    ws.onclose = (ev) => inlet.close(ev.code, ev.reason);
  });
}
