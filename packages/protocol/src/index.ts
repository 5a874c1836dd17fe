export * from './native/index.js';
export * from './mqtt/index.js';
export * from './topic-match.js';
export * from './websocket/index.js';
export * from './input-budget.js';
export { RecentName } from './recent-name.js';
