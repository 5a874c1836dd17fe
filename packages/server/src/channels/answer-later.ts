import type { Refusal } from '@pulse/core';
import type { SubscribeCommit } from '../cluster/shared-history.js';
import type { SubscribeRecovery } from '../history/subscribe-recovery.js';
import type { Connection } from '../transport/connection.js';

/** A session that answers an operation: gone once `stopped`. */
export interface Answering {
  readonly stopped: boolean;
  readonly connection: Pick<Connection, 'contain'>;
}

/**
 * Runs `then` with the operation's result: at once when it has one, else when its Promise
 * settles (a history channel in a cluster waits for the engine), unless the session stopped
 * meanwhile. An exception in `then` is the connection's fault, as in any data callback.
 */
export function answer<T>(result: T | Promise<T>, session: Answering, then: (value: T) => void): void {
  if (!(result instanceof Promise)) return then(result);
  result.then(
    (value) => {
      if (!session.stopped) session.connection.contain('data', () => then(value));
    },
    (err: unknown) =>
      session.connection.contain('data', () => {
        throw err;
      }),
  );
}

/**
 * As `answer`, for a subscribe: a pending one is committed (subscribed, acknowledged and its
 * replay sent) in one turn, or cancelled when the session stopped meanwhile.
 */
export function answerSubscribe(
  result: SubscribeRecovery | Refusal | Promise<SubscribeCommit>,
  session: Answering,
  then: (recovery: SubscribeRecovery | Refusal) => void,
): void {
  if (!(result instanceof Promise)) return then(result);
  result.then(
    (commit) => {
      if (session.stopped) return commit.cancel();
      session.connection.contain('data', () => then(commit.run()));
    },
    (err: unknown) =>
      session.connection.contain('data', () => {
        throw err;
      }),
  );
}
