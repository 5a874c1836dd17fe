export { ConfigError } from './errors.js';
export { defaultConfig, type LoadResult, loadConfig } from './load.js';
export type { AuthConfig, PulseConfig } from './schema.js';
export type { AclAction, AclRuleConfig, AuthUserConfig } from './auth.js';
export { type HistoryConfig, historyRules } from './history.js';
