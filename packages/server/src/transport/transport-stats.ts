/** Plain counters the hot path bumps; the metrics module reads them at scrape time. */
export class TransportStats {
  bytesIn = 0;
  bytesOut = 0;
  dropped = 0;
  slowConsumerDisconnects = 0;
  /** Times a slow reader paused a publisher (transport/publisher-pause.ts). */
  publisherPauses = 0;
  /** Slow readers that spent their pause allowance before they drained. */
  readerStalls = 0;
  /** Milliseconds this transport's publishers spent paused (transport/pause-allowance.ts). */
  publisherPausedMs = 0;
  accepted = 0;
  open = 0;
  /** Connections closed for missing the handshake deadline (limits.handshake_timeout_ms). */
  handshakeTimeouts = 0;
}

/** The `transport` label of the connection metrics: one TransportStats each. */
export const TRANSPORT_NAMES = ['ws', 'tcp', 'mqtt', 'mqtt_ws', 'http_stream', 'sse'] as const;
export type TransportName = (typeof TRANSPORT_NAMES)[number];
