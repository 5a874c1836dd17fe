export * from './ack-writer.js';
export * from './codec.js';
export * from './packet-splitter.js';
export * from './reason-codes.js';
export type { UserPropertyLimits } from './property-scan.js';
