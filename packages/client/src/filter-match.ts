export { filterMatches } from '@pulse/protocol/topic';
