import type { Publication } from '@pulse/core';

/** A client's will message (MQTT 5 §3.1.3.2), published when its connection ends abnormally. */
export interface Will {
  /** The will as published, but for its expiry, which counts from publication (MQTT 5 §3.1.3.2.4). */
  publication: Publication;
  delaySeconds: number;
  expirySeconds: number | undefined;
}
