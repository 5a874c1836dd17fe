import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderMarkdown } from '../src/report/markdown.js';
import type { BenchResults } from '../src/results.js';
import { type PublishTiming, runBrokerMicro, type SubscribeTiming } from '../src/scenarios/micro.js';
import { runMqttDecodeMicro } from '../src/scenarios/mqtt-decode-micro.js';

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

describe('MQTT decode micro-benchmarks', () => {
  it('time the hot decoder and mqtt-packet on each publication-flow packet, and report every row', () => {
    const rows = runMqttDecodeMicro({ warmupMs: 2, measureMs: 5 });
    assert.deepEqual(
      rows.map((t) => `${t.packet} v${t.version}`),
      [4, 5].flatMap((v) =>
        ['PUBLISH QoS 0, 64 B', 'PUBLISH QoS 1, 64 B', 'PUBACK'].map((p) => `${p} v${v}`),
      ),
    );
    for (const t of rows) assert.ok(t.hotNs > 0 && t.decoderParserNs > 0 && t.mqttPacketNs > 0, t.packet);
    const results = {
      settings: { command: 'x', date: 'd', node: 'v', machine: 'm', durationSec: 1, fanoutWindows: [] },
      micro: {
        ok: true,
        value: { codec: [], mqttDecode: rows, broker: { payloadSize: 64, subscribe: [], publish: [] } },
      },
      targets: {},
    } as unknown as BenchResults;
    const md = renderMarkdown(results);
    assert.match(md, /### MQTT decode micro-benchmarks \(hot decoder vs mqtt-packet/);
    assert.match(md, /\| PUBLISH QoS 1, 64 B \| 5 \| [\d,]+ \| [\d,]+ \| [\d,]+ \| [\d,]+ \| [\d.]+× \|/);
    assert.match(md, /\| PUBACK \| 3\.1\.1 \| 4 \|/);
  });
});
