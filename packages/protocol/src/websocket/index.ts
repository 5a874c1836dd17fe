export * from './frame-parser.js';
export * from './frame-writer.js';
export * from './handshake.js';
export * from './opcodes.js';
