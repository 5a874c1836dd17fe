/** The part of a browser `window` that says when the network comes and goes. */
export interface NetworkEvents {
  addEventListener(type: 'online' | 'offline', listener: () => void): void;
  removeEventListener(type: 'online' | 'offline', listener: () => void): void;
}

/** The global `online`/`offline` source: `window` in browsers; undefined in Node. */
export function globalNetworkEvents(): NetworkEvents | undefined {
  const g = globalThis as Partial<NetworkEvents>;
  return typeof g.addEventListener === 'function' && typeof g.removeEventListener === 'function'
    ? (g as NetworkEvents)
    : undefined;
}

/** Listens to `online`/`offline` on `source`; returns the function that stops listening. */
export function watchNetwork(
  source: NetworkEvents | undefined,
  onOnline: () => void,
  onOffline: () => void,
): () => void {
  if (!source) return () => {};
  source.addEventListener('online', onOnline);
  source.addEventListener('offline', onOffline);
  return () => {
    source.removeEventListener('online', onOnline);
    source.removeEventListener('offline', onOffline);
  };
}
