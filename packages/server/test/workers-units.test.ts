import assert from 'node:assert/strict';
import { availableParallelism, hostname } from 'node:os';
import { test } from 'node:test';
import { defaultConfig } from '../src/config/index.js';
import { CrashBudget } from '../src/workers/crash-budget.js';
import { workerConfig, workerCount, workerFile } from '../src/workers/worker-config.js';

test('crash budget: 100, 200, 400, 800 ms, then the 5th crash within 10 s gives up; older crashes fall out', () => {
  const budget = new CrashBudget();
  assert.deepEqual(
    [0, 1000, 2000, 3000, 9999].map((t) => budget.crashed(t)),
    [100, 200, 400, 800, undefined],
  );
  const slow = new CrashBudget();
  // One crash every 3 s: never more than 4 within 10 s.
  const delays = Array.from({ length: 10 }, (_, i) => slow.crashed(i * 3000));
  assert.ok(
    delays.every((d) => d !== undefined && d <= 800),
    String(delays),
  );
  assert.equal(new CrashBudget().crashed(0), 100);
});

test('worker files: .w<i> before the extension, at the end without one', () => {
  assert.equal(workerFile('data/pulse.db', 1), 'data/pulse.w1.db');
  assert.equal(workerFile('/var/lib/pulse/store', 12), '/var/lib/pulse/store.w12');
  assert.equal(workerFile('/a.b/c', 2), '/a.b/c.w2');
});

test('worker config: node name, own store file and WAL dir, no metrics listener; the original untouched', () => {
  const config = defaultConfig();
  config.cluster.engine = 'nats';
  config.server.workers = 4;
  const w3 = workerConfig(config, 3);
  assert.equal(w3.cluster.node_name, `${hostname()}:w3`);
  assert.equal(w3.storage.path, 'data/pulse.w3.db');
  assert.equal(w3.storage.wal_dir, 'data/wal/w3');
  assert.equal(w3.metrics.port, 0);
  assert.equal(w3.server.port, config.server.port);
  config.cluster.node_name = 'edge-1';
  assert.equal(workerConfig(config, 2).cluster.node_name, 'edge-1:w2');
  assert.equal(config.metrics.port, 9090);
  assert.equal(config.storage.path, 'data/pulse.db');
  assert.equal(workerCount(config), 4);
  config.server.workers = 0;
  assert.equal(workerCount(config), availableParallelism());
});
