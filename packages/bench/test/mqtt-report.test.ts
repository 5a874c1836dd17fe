import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderDurable } from '../src/report/durable.js';
import { renderMarkdown } from '../src/report/markdown.js';
import { generatorNearLimit } from '../src/report/mqtt.js';
import type { BenchResults, RunSettings, TargetResults } from '../src/results.js';
import type { FanoutResult } from '../src/scenarios/fanout.js';
import type { Measurement } from '../src/scenarios/measure.js';
import type { MqttThroughputResult } from '../src/scenarios/mqtt-throughput.js';

function measurement(deliveriesPerSec: number, generatorBusiestCpu = 0.2): Measurement {
  return {
    deliveriesPerSec,
    publishesPerSec: deliveriesPerSec,
    p50Micros: 1000,
    p99Micros: 2000,
    latencySamples: 10,
    lastP50Micros: Number.NaN,
    lastP99Micros: Number.NaN,
    generatorCpu: generatorBusiestCpu,
    generatorSystemCpu: 0.1,
    generatorBusiestCpu,
    serverCpu: 1,
    coreBusy: [1, generatorBusiestCpu],
    otherCpu: 0,
    serverPeakRssKiB: 10240,
    closed: 0,
    stalls: 0,
  };
}

function m1(rates: number[], busiest = 0.2, firstQos = 0): TargetResults['m1'] {
  const value: MqttThroughputResult = {
    payloadSize: 128,
    windows: [256],
    napMs: 0.2,
    serverIdleRssKiB: 8192,
    runs: rates.map((rate, i) => ({
      qos: (firstQos + i) as 0 | 1 | 2,
      window: 256,
      result: measurement(rate, busiest),
      check: { expected: 100, received: 100, sent: 100, acked: 100, anomalies: 0 },
    })),
    best: [],
  };
  value.best = value.runs;
  return { ok: true, value };
}

/** d1 results: QoS 1 and QoS 2 rates. */
const d1 = (qos1: number, qos2: number): TargetResults['d1'] => m1([qos1, qos2], 0.2, 1);

function m2(rate: number): TargetResults['m2'] {
  const run = { window: 256, result: measurement(rate), check: { expected: 10, received: 10 } };
  const value: FanoutResult = {
    subscribers: 1000,
    connectMs: 100,
    serverIdleRssKiB: 8192,
    windows: [run],
    best: run,
    openLoop: [],
  };
  return { ok: true, value };
}

const settings = {
  command: 'test',
  date: 'now',
  node: 'v20',
  machine: 'test',
  scenarios: ['m1', 'm2'],
  targets: ['pulse', 'mosquitto', 'aedes'],
  procs: 2,
  warmupMs: 1,
  measureMs: 1,
  payloadSize: 64,
  subscribers: 1000,
  fanoutWindows: [256],
  openLoopFractions: [],
  pairs: 1,
  pairWindow: 1,
  idleConnections: 1,
  natsProcs: 1,
  mqttPayloadSize: 128,
  mqttWindows: [256],
  mqttNapMs: 0.2,
  retainedTopics: 1000,
  retainedSubscribers: 100,
  retainedRounds: 5,
  placement: 'pinned',
  generatorCores: 1,
  durationSec: 1,
} satisfies RunSettings;

describe('MQTT tables', () => {
  it('computes the ratios and the bars against Mosquitto', () => {
    const r: BenchResults = {
      settings,
      targets: {
        pulse: { m1: m1([200_000, 50_000, 30_000]), m2: m2(1_000_000) },
        mosquitto: { m1: m1([100_000, 60_000, 20_000], 0.9), m2: m2(150_000) },
        'mosquitto-nodelay': { m1: m1([80_000, 40_000, 30_000]), m2: m2(100_000) },
        aedes: { m1: { ok: false, error: 'no | aedes' }, m2: m2(80_000) },
      },
    };
    const md = renderMarkdown(r);
    // Each bar against the better Mosquitto run of that metric.
    const bar = (text: string, mosquitto: string, ratio: string, result: string): void =>
      assert.ok(md.includes(`| ${text} | ${mosquitto} | ${ratio} | ${result} |`), `${text}\n${md}`);
    bar('(m2) fan-out 1 → 1,000 QoS 0 deliveries/s ≥ 5× Mosquitto', 'Mosquitto: 150,000', '6.67×', 'pass');
    bar('(m1) 1 → 1 QoS 0 messages/s ≥ Mosquitto', 'Mosquitto: 100,000', '2.00×', 'pass');
    bar('(m1) 1 → 1 QoS 1 messages/s ≥ Mosquitto', 'Mosquitto: 60,000', '0.83×', '**FAIL**');
    bar('(m1) 1 → 1 QoS 2 messages/s ≥ Mosquitto', 'Mosquitto nodelay: 30,000', '1.00×', 'pass');
    assert.ok(md.includes('| (m2) deliveries/s (higher is better) | 6.67× | 10.0× | 12.5× |'));
    // A failed target is reported with its error, pipes escaped.
    assert.match(md, /\| Aedes \| not measured: no \\\| aedes \|/);
    // Mosquitto's generator was at 90 % of a core: flagged and explained.
    assert.match(md, /\| Mosquitto ‡ \| 0 \|/);
    assert.match(md, /‡: the generator was near its limit/);
  });

  it('renders d1 with its durability, ratios and bars', () => {
    const r: BenchResults = {
      settings: { ...settings, scenarios: ['d1'], dataFs: 'ext4' },
      targets: {
        pulse: { d1: d1(200_000, 120_000) },
        'pulse-sqlite-strict': { d1: { ok: false, error: 'disk full' } },
        'pulse-sqlite-balanced': { d1: d1(90_000, 50_000) },
        'pulse-sqlite-fast': { d1: d1(150_000, 100_000) },
        'mosquitto-persist': { d1: d1(80_000, 45_000) },
        'mosquitto-persist-eager': { d1: d1(1_000, 60_000) },
      },
    };
    const md = renderDurable(r);
    const bar = (text: string, ...cells: string[]): void =>
      assert.ok(md.includes(`| ${text} | ${cells.join(' | ')} |`), `${text}\n${md}`);
    bar(
      '(d1) Pulse sqlite balanced, QoS 1 ≥ 0.5 × Pulse memory',
      '90,000',
      'Pulse memory: 200,000',
      '0.45×',
      '**FAIL**',
    );
    bar(
      '(d1) Pulse sqlite balanced, QoS 1 ≥ Mosquitto with persistence',
      '90,000',
      'Mosquitto persist: 80,000',
      '1.13×',
      'pass',
    );
    // Against the better of the two persistent Mosquitto runs, QoS by QoS.
    bar(
      '(d1) Pulse sqlite balanced, QoS 2 ≥ Mosquitto with persistence',
      '50,000',
      'Mosquitto persist eager: 60,000',
      '0.83×',
      '**FAIL**',
    );
    assert.match(md, /\| Pulse memory \| `--storage-engine memory`/);
    assert.match(md, /\| Pulse sqlite fast \| `--sqlite DIR\/pulse.db --storage-commit-policy fast`: /);
    assert.ok(md.includes('| Pulse sqlite fast | **150,000** | **100,000** | 0.75× | 0.83× |'), md);
    assert.match(md, /\| Pulse sqlite strict \| not measured: disk full \|/);
    assert.match(md, /on ext4/);
    assert.match(
      md,
      /`persistence true persistence_location DIR\/ user \S+ autosave_on_changes true autosave_interval 1`/,
    );
  });

  it('flags a generator near its limit', () => {
    assert.equal(generatorNearLimit(measurement(1, 0.5), 1), false);
    assert.equal(generatorNearLimit(measurement(1, 0.9), 1), true);
    assert.equal(generatorNearLimit({ ...measurement(1, 0.5), generatorCpu: 0.9 }, 1), true);
    assert.equal(generatorNearLimit({ ...measurement(1, 0.5), generatorCpu: 0.9 }, 2), false);
  });
});
