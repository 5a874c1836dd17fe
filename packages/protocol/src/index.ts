export * from './native/index.js';
export * from './websocket/index.js';
