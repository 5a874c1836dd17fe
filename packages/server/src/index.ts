export * from './config/index.js';
export { createLogger } from './log.js';
export { type ListeningAddresses, PulseServer, type PulseServerOptions } from './server.js';
export { VERSION } from './version.js';
export { SqliteStore, StoreOpenError } from './storage/sqlite-store.js';
