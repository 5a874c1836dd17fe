export * from './broker.js';
export * from './channel.js';
export * from './outbound.js';
export * from './presence.js';
export * from './refusal.js';
export * from './retained-store.js';
export * from './shared-group.js';
export type { Subscriber } from './subscriber.js';
export * from './topic-index.js';
