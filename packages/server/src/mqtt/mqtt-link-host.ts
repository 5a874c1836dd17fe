import type { Broker, Publication, Refusal, RetainedStore } from '@pulse/core';
import type { UserPropertyLimits } from '@pulse/protocol';
import type { AuthService } from '../auth/auth-service.js';
import type { PulseConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import type { MqttStats } from './mqtt-stats.js';
import type { MqttSession, SessionLink } from './session.js';
import type { Will } from './will.js';
import type { ClaimOutcome } from './mqtt-cluster-hooks.js';

/** A link as the host sees it when it closes: the session it had attached, if any. */
export interface ClosedLink extends SessionLink {
  readonly session: MqttSession | undefined;
}

/**
 * What an MQTT link needs of the broker it belongs to (MqttService implements it): the link
 * depends on this, not on the service, so that the two do not import each other.
 */
export interface MqttLinkHost {
  readonly config: PulseConfig['mqtt'];
  readonly log: Logger;
  readonly stats: MqttStats;
  readonly broker: Broker;
  readonly retained: RetainedStore;
  /** limits.max_outbound_bytes: past it a connection is congested. */
  readonly outboundBudget: number;
  readonly userPropertyLimits: UserPropertyLimits;
  /** Authentication and authorization; undefined when neither [auth] nor [hooks] is on. */
  readonly auth: AuthService | undefined;
  checkTopic(topic: string): Refusal | undefined;
  checkFilter(filter: string): Refusal | undefined;
  checkResponseTopic(topic: string): Refusal | undefined;
  /** A promise while the cluster engine does not hold this node's interest yet (a SUBACK waits). */
  interestInForce(): Promise<void> | undefined;
  /** Subscribers reached, or why the publication was refused. */
  route(publication: Publication, topicChecked?: boolean): number | Refusal | Promise<number | Refusal>;
  /** The user whose session holds `clientId`, if an authenticated one does. */
  sessionOwner(clientId: string): string | undefined;
  /** A CONNECT for `clientId` would start a session past mqtt.max_sessions (one held here is not new). */
  sessionsFull(clientId: string): boolean;
  /** Before attaching: a session for `clientId` held by another node comes here (see MqttClusterHooks.claim). */
  claimClientId(
    clientId: string,
    cleanStart: boolean,
    user: string | undefined,
  ): Promise<ClaimOutcome> | undefined;
  /** Finds, resumes, takes over or creates the session for a CONNECT. */
  attachSession(
    clientId: string,
    cleanStart: boolean,
    expiryInterval: number,
    user: string | undefined,
  ): { session: MqttSession; present: boolean };
  onLinkClosed(link: ClosedLink, will: Will | undefined): void;
}
