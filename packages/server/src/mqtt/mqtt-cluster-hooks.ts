import type { Publication } from '@pulse/core';

/** How a cross-node claim of a client id ended: go on, or the id is another user's session. */
export type ClaimOutcome = 'ok' | 'owned';

/**
 * What the MQTT broker tells the other nodes, when clustered (cluster/mqtt-cluster.ts,
 * docs/CLUSTER.md "MQTT across nodes"). The broker depends on this, not on the cluster.
 */
export interface MqttClusterHooks {
  /** A client set (or, with an empty payload, cleared) the retained message of a channel here. */
  retained(publication: Publication): void;
  /**
   * A CONNECT for `clientId` is about to be answered: undefined to go on at once, else a
   * promise that settles once any session held elsewhere has come here (or a bounded wait ran out).
   */
  claim(clientId: string, cleanStart: boolean, user: string | undefined): Promise<ClaimOutcome> | undefined;
}
