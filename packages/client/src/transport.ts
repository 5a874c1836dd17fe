/** How the client reaches the server: a byte pipe carrying native frames. */
export interface ClientTransport {
  send(bytes: Uint8Array): void;
  close(): void;
  /** Starts delivering received bytes (including any that arrived before) and the close. */
  attach(onBytes: (bytes: Uint8Array) => void, onClose: (code: number, reason: string) => void): void;
}

/**
 * Holds what arrives before the client attaches: the server's first frame can come in the
 * same read as the handshake, before the code awaiting the open has run.
 */
export class Inlet {
  private early: Uint8Array[] | undefined = [];
  private closedWith: [number, string] | undefined;
  private onBytes: ((bytes: Uint8Array) => void) | undefined;
  private onClose: ((code: number, reason: string) => void) | undefined;

  bytes(data: Uint8Array): void {
    if (this.onBytes) this.onBytes(data);
    else this.early?.push(data);
  }

  close(code: number, reason: string): void {
    if (this.onClose) this.onClose(code, reason);
    else this.closedWith = [code, reason];
  }

  attach(onBytes: (bytes: Uint8Array) => void, onClose: (code: number, reason: string) => void): void {
    this.onBytes = onBytes;
    this.onClose = onClose;
    const early = this.early ?? [];
    this.early = undefined;
    for (const data of early) onBytes(data);
    if (this.closedWith) onClose(...this.closedWith);
  }
}

/** The subset of the WebSocket API the client uses (browsers' WebSocket, or the `ws` package). */
/**
 * An event handler property. Written as a method so that its parameter is checked both ways:
 * the `ws` package's and the browser's WebSocket, whose handlers take richer event types, then
 * type-check as a WebSocketLike under `strict` without a cast.
 */
type Handler<E> = { handle(ev: E): void }['handle'] | null;

export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  send(data: Uint8Array | string): void;
  close(code?: number, reason?: string): void;
  onopen: Handler<unknown>;
  onmessage: Handler<{ data: unknown }>;
  onclose: Handler<{ code: number; reason: string }>;
  onerror: Handler<unknown>;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/**
 * Closes `ws` when `signal` aborts before it is open (a handshake nobody waits for any more
 * would hold its socket until the server answered, if ever); returns what stops watching.
 */
export function closeOnAbort(ws: WebSocketLike, signal: AbortSignal | undefined): () => void {
  if (signal === undefined) return () => {};
  const onAbort = () => ws.close();
  signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}

/** Opens a WebSocket and resolves once it is open; `signal` gives the opening up. */
export function openWebSocket(
  url: string,
  Ctor: WebSocketConstructor,
  signal?: AbortSignal,
): Promise<ClientTransport> {
  return new Promise((resolve, reject) => {
    const ws = new Ctor(url);
    ws.binaryType = 'arraybuffer';
    const opened = closeOnAbort(ws, signal);
    const inlet = new Inlet();
    const transport: ClientTransport = {
      send: (bytes) => ws.send(bytes),
      close: () => ws.close(1000),
      attach: (onBytes, onClose) => inlet.attach(onBytes, onClose),
    };
    ws.onopen = () => {
      opened();
      resolve(transport);
    };
    ws.onerror = () => reject(new Error(`cannot connect to ${url}`));
    ws.onmessage = (ev) => {
      const data = ev.data;
      if (data instanceof ArrayBuffer) inlet.bytes(new Uint8Array(data));
      else if (ArrayBuffer.isView(data))
        inlet.bytes(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    };
    ws.onclose = (ev) => inlet.close(ev.code, ev.reason);
  });
}
