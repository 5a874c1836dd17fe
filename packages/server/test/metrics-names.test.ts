// Every metric a scrape returns follows the Prometheus naming conventions.
import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import { test } from 'node:test';
import { scrape, startServer } from './helpers.js';

test('metric names: one pulse_ prefix, no doubled word, _total only and always on counters', async () => {
  const h = await startServer();
  try {
    const text = await scrape(h);
    const types = new Map<string, string>();
    for (const line of text.split('\n')) {
      const m = /^# TYPE (\S+) (\S+)$/.exec(line);
      if (m) types.set(at(m, 1), at(m, 2));
    }
    assert.ok(types.size > 30, `a full scrape (${types.size} metrics)`);
    for (const [name, type] of types) {
      assert.match(name, /^pulse_[a-z0-9_]+$/, name);
      assert.doesNotMatch(name, /(^|_)([a-z0-9]+)_\2(_|$)/, `${name} repeats a word`);
      if (type === 'counter') assert.match(name, /_total$/, `counter ${name} ends in _total`);
      else assert.doesNotMatch(name, /_total$/, `${type} ${name} does not end in _total`);
    }
    // The Node process metrics, under their conventional names.
    for (const name of [
      'pulse_process_cpu_seconds_total',
      'pulse_process_resident_memory_bytes',
      'pulse_process_start_time_seconds',
      'pulse_nodejs_eventloop_lag_seconds',
      'pulse_nodejs_heap_size_used_bytes',
      'pulse_nodejs_active_handles',
    ]) {
      assert.ok(types.has(name), `${name} is exported`);
    }
  } finally {
    await h.stop();
  }
});
