import { type Refusal, checkPublishChannel, checkSubscribeFilter } from '@pulse/core';
import type { Action } from '../auth/rights.js';

/** Every channel operation a client may ask for, in any protocol (native frames, JSON methods). */
export type ChannelOperation =
  | 'publish'
  | 'subscribe'
  | 'history'
  | 'presence'
  | 'presence_join'
  | 'presence_update'
  | 'presence_leave';

interface OperationRule {
  readonly right: Action;
  /** The name check of the operation itself: a malformed name is answered by the operation, not refused. */
  readonly nameProblem: (channel: string) => Refusal | undefined;
}

// Reading history and presence, and being present, need the right to subscribe.
const RULES: Record<ChannelOperation, OperationRule> = {
  publish: { right: 'publish', nameProblem: checkPublishChannel },
  subscribe: { right: 'subscribe', nameProblem: checkSubscribeFilter },
  history: { right: 'subscribe', nameProblem: checkPublishChannel },
  presence: { right: 'subscribe', nameProblem: checkPublishChannel },
  presence_join: { right: 'subscribe', nameProblem: checkPublishChannel },
  presence_update: { right: 'subscribe', nameProblem: checkPublishChannel },
  presence_leave: { right: 'subscribe', nameProblem: checkPublishChannel },
};

/**
 * The right `operation` on `channel` needs, or undefined when there is nothing to check: the
 * operation is not a channel one, or the name is malformed (the operation answers that itself,
 * with the same error with or without authorization).
 */
export function rightNeeded(operation: string, channel: string): Action | undefined {
  const rule = RULES[operation as ChannelOperation];
  if (rule === undefined || rule.nameProblem(channel) !== undefined) return undefined;
  return rule.right;
}
