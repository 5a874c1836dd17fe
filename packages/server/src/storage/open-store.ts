import { join } from 'node:path';
import { MemoryStore, type Store } from '@pulse/core';
import type { PulseConfig } from '../config/index.js';
import { SqliteStore } from './sqlite-store.js';

/**
 * The store `storage.engine` names. `wal` is SQLite in WAL mode at `<wal_dir>/pulse.db` (the
 * MQTT broker seed's WAL engine). Throws `StoreOpenError` when the file cannot be used.
 */
export function openStore(config: PulseConfig['storage']): Store {
  switch (config.engine) {
    case 'memory':
      return new MemoryStore();
    case 'sqlite':
      return SqliteStore.open(config.path, config.commit_policy);
    case 'wal':
      return SqliteStore.open(join(config.wal_dir, 'pulse.db'), config.commit_policy);
  }
}
