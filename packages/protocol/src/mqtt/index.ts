export * from './ack-writer.js';
export * from './codec.js';
export * from './packet-splitter.js';
export * from './reason-codes.js';
export type { UserPropertyLimits } from './property-scan.js';
// For measurements: the fast path of MqttDecoder.decode on its own.
export { decodeHotPacket } from './hot-packets.js';
export * from './publish-writer.js';
