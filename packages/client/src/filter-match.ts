import * as topic from '@pulse/protocol/topic';

// Re-exported with their signatures spelled out: the published declarations must not name
// @pulse/protocol, which is bundled into the package rather than a dependency of it.
/** Whether `channel` matches `filter` (`+` one level, `#` the rest), as the server matches. */
export const filterMatches: (filter: string, channel: string) => boolean = topic.filterMatches;
/** `filterMatches`, and `$share/{group}/{filter}` by its `{filter}`. */
export const subscriptionMatches: (subscription: string, channel: string) => boolean =
  topic.subscriptionMatches;
