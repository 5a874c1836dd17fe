export { filterMatches, subscriptionMatches } from '@pulse/protocol/topic';
