/** How the client reaches the server: a byte pipe carrying native frames. */
export interface ClientTransport {
  send(bytes: Uint8Array): void;
  close(): void;
  onBytes: (bytes: Uint8Array) => void;
  onClose: (code: number, reason: string) => void;
}

/** The subset of the WebSocket API the client uses (browsers' WebSocket, or the `ws` package). */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** Opens a WebSocket and resolves once it is open. */
export function openWebSocket(url: string, Ctor: WebSocketConstructor): Promise<ClientTransport> {
  return new Promise((resolve, reject) => {
    const ws = new Ctor(url);
    ws.binaryType = 'arraybuffer';
    const transport: ClientTransport = {
      send: (bytes) => ws.send(bytes),
      close: () => ws.close(1000),
      onBytes: () => {},
      onClose: () => {},
    };
    ws.onopen = () => resolve(transport);
    ws.onerror = () => reject(new Error(`cannot connect to ${url}`));
    ws.onmessage = (ev) => {
      const data = ev.data;
      if (data instanceof ArrayBuffer) transport.onBytes(new Uint8Array(data));
      else if (ArrayBuffer.isView(data))
        transport.onBytes(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    };
    ws.onclose = (ev) => transport.onClose(ev.code, ev.reason);
  });
}
