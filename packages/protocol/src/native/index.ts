export * from './decode.js';
export * from './encode.js';
export * from './error-codes.js';
export * from './frame-reader.js';
export * from './frames.js';
export { encodePublishFrame, type PublishFields } from './publish-writer.js';
export { msgpack } from './msgpack.js';
export { MAX_FRAME_ITEMS, MAX_NESTING_DEPTH, plainMessagePackProblem } from './plain-msgpack.js';
