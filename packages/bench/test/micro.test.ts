import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderMarkdown } from '../src/report/markdown.js';
import type { BenchResults } from '../src/results.js';
import { type PublishTiming, runBrokerMicro, type SubscribeTiming } from '../src/scenarios/micro.js';

describe('broker micro-benchmarks', () => {
  it('time the real broker in worker threads, and report every row', async () => {
    const broker = await runBrokerMicro({ warmupMs: 5, measureMs: 20 }, [
      { kind: 'subscribe', filter: 'wildcard', others: 10 },
      { kind: 'publish', via: 'exact', subscribers: 0, mixed: false },
      { kind: 'publish', via: 'wildcard', subscribers: 10, mixed: true },
    ]);
    const [sub] = broker.subscribe as [SubscribeTiming];
    const [none, wild] = broker.publish as [PublishTiming, PublishTiming];
    assert.equal(sub.others, 10);
    assert.ok(sub.nsPerOp > 0);
    assert.ok(none.nsPerPublish > 0 && Number.isNaN(none.nsPerDelivery));
    assert.equal(wild.via, 'wildcard');
    assert.ok(wild.mixed);
    assert.equal(wild.nsPerDelivery, wild.nsPerPublish / 10);

    const results = {
      settings: { command: 'x', date: 'd', node: 'v', machine: 'm', durationSec: 1, fanoutWindows: [] },
      micro: { ok: true, value: { codec: [], broker } },
      targets: {},
    } as unknown as BenchResults;
    const md = renderMarkdown(results);
    assert.match(
      md,
      /\| `subscribe` \+ `unsubscribe` of wildcard filter `bench\/\+` \| 10 others \| [\d,]+ \| — \|/,
    );
    assert.match(md, /\| `publish` to channel `bench\/micro` \| 0 \| [\d,]+ \| — \|/);
    assert.match(
      md,
      /via filter `bench\/\+` \(match cached\), after delivering via exact channels too \| 10 \|/,
    );
  });
});
