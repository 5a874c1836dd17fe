export * from './config/index.js';
export { createLogger } from './log.js';
export { type ListeningAddresses, PulseServer, type PulseServerOptions } from './server.js';
export { VERSION } from './version.js';
export { SqliteStore, StoreOpenError } from './storage/sqlite-store.js';
export { TlsConfigError, type TlsReloadResult } from './transport/tls.js';
export { AuthConfigError } from './auth/errors.js';
export type { AuthHooks, HookRequest, HookResult } from './auth/hooks.js';
export { hashPassword } from './auth/passwords.js';
