export { ConfigError } from './errors.js';
export { defaultConfig, type LoadResult, loadConfig } from './load.js';
export type { PulseConfig } from './schema.js';
export { type HistoryConfig, historyRules } from './history.js';
