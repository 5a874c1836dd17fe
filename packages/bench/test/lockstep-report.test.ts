import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseBenchArgs } from '../src/args.js';
import { renderLockstep, summarizeL1 } from '../src/report/lockstep.js';
import type { BenchResults, RunSettings } from '../src/results.js';
import { type LockstepRun, lockstepFigures } from '../src/scenarios/lockstep.js';
import { parsePubReport, parseSubReport } from '../src/scenarios/sync-client.js';

const SUB = JSON.stringify({
  received: 9990,
  duplicates: 0,
  firstNs: 2_000_000,
  lastNs: 1_001_000_000,
  unexpectedPackets: 0,
  brokerDisconnect: null,
  cpuNs: 5e8,
  samples: [120, 80],
});
const PUB = JSON.stringify({
  sent: 10000,
  acked: 10000,
  refused: 0,
  flowControlWaits: 7,
  firstNs: 1_000_000,
  lastSentNs: 50_000_000,
  cpuNs: 2e8,
  brokerDisconnect: null,
  error: null,
});

function run(qos: 0 | 1 | 2, received: number, spanMs: number, serverCpuMicros: number): LockstepRun {
  return {
    qos,
    elapsedMs: spanMs,
    serverCpuMicros,
    clientCpuMicros: 0,
    otherCpu: 0,
    sub: { ...parseSubReport(SUB), received, lastNs: 1_000_000 + spanMs * 1e6 },
    pub: parsePubReport(PUB),
  };
}

/** A run's settings with the figures every test shares, and its own. */
function settings(own: Partial<RunSettings>): RunSettings {
  return {
    date: '2026-12-03T00:00:00Z',
    node: 'v20',
    machine: '2 cores',
    procs: 2,
    warmupMs: 1000,
    measureMs: 3000,
    payloadSize: 64,
    natsProcs: 1,
    mqttPayloadSize: 128,
    placement: 'pinned',
    durationSec: 10,
    ...own,
  } as RunSettings;
}

describe('lock-step section', () => {
  it('parses the clients’ report lines and refuses malformed ones', () => {
    const sub = parseSubReport(SUB);
    assert.equal(sub.received, 9990);
    assert.deepEqual(sub.samples, [120, 80]);
    assert.equal(sub.brokerDisconnect, null);
    const pub = parsePubReport(PUB);
    assert.equal(pub.flowControlWaits, 7);
    assert.equal(pub.maxLagUs, undefined);
    assert.equal(pub.error, null);
    assert.throws(() => parseSubReport(JSON.stringify({ ...JSON.parse(SUB), received: 'x' })), /received/);
    assert.throws(() => parseSubReport(JSON.stringify({ ...JSON.parse(SUB), samples: ['1'] })), /samples/);
    assert.throws(() => parsePubReport('not json'));
  });

  it('rates a run from the first publish to the last delivery and counts losses', () => {
    const f = lockstepFigures({
      sub: parseSubReport(SUB),
      pub: parsePubReport(PUB),
      serverCpuMicros: 99_900,
    });
    // 9,990 arrived over 1.000 s (first publish at 1 ms, last delivery at 1,001 ms).
    assert.equal(Math.round(f.messagesPerSec), 9990);
    assert.equal(f.lost, 10);
    assert.equal(f.cpuPerMessageMicros, 10);
  });

  it('takes the median run per QoS and the worst loss of all runs', () => {
    const runs = [run(0, 10000, 500, 100_000), run(0, 9000, 250, 90_000), run(0, 10000, 1000, 50_000)];
    const m = summarizeL1(runs, 0)!;
    assert.equal(Math.round(m.messagesPerSec), 20000); // 10,000 in 0.5 s; the others: 36,000 and 10,000
    assert.equal(Math.round(m.minPerSec), 10000);
    assert.equal(Math.round(m.maxPerSec), 36000);
    assert.equal(m.cpuPerMessageMicros, 10);
    assert.equal(m.worstLost, 1000);
    assert.equal(summarizeL1(runs, 1), null);
  });

  it('renders l3 rounds: the round of median p50, the range, medians in the bars and rounds won', () => {
    const measured = (p50Micros: number, p99Micros: number) =>
      ({
        deliveriesPerSec: 1000,
        p50Micros,
        p99Micros,
        latencySamples: 3000,
        serverCpu: 0.05,
        otherCpu: 0,
      }) as never;
    const round = (p50: number, p99: number) => ({ p50Micros: p50, p99Micros: p99 });
    const lowLoad = (rounds: [number, number][]) => {
      const sorted = [...rounds].sort((a, b) => a[0] - b[0]);
      const median = sorted[Math.floor((sorted.length - 1) / 2)] as [number, number];
      return {
        ok: true as const,
        value: {
          protocol: 'mqtt' as const,
          rate: 1000,
          result: measured(median[0], median[1]),
          check: { expected: 3000, received: 3000 },
          rounds: rounds.map(([a, b]) => round(a, b)),
        },
      };
    };
    const r: BenchResults = {
      settings: settings({ command: 'npm run bench -- --only l3', lowLoadRate: 1000, lowLoadReps: 3 }),
      targets: {},
      lockstep: {
        l3: {
          // Pulse: 90, 120, 100 µs (median 100); Mosquitto: 95, 110, 130 (median 110): lower in 2 of 3.
          'mqtt-pulse': lowLoad([
            [90, 300],
            [120, 1500],
            [100, 400],
          ]),
          'mqtt-mosquitto-persist': lowLoad([
            [95, 200],
            [110, 250],
            [130, 260],
          ]),
        },
      },
    };
    const md = renderLockstep(r);
    assert.match(md, /3 rounds, each running every target once/);
    assert.match(
      md,
      /\| Pulse MQTT \| 1,000 \| \*\*100 µs\*\* \(90\.0 µs–120 µs\) \| 400 µs \|.* 0\.91× \/ 1\.60× \|/,
    );
    assert.match(
      md,
      /p50 ≤ Mosquitto persist's \| 100 µs vs 110 µs \(lower or equal in 2 of 3 rounds\) \| pass/,
    );
    // The p99 bar takes the median of the rounds' p99 (300, 1500, 400), not the worst.
    assert.match(md, /Pulse MQTT: p99 < 1 ms \| 400 µs \| pass/);
  });

  it('renders l1 with ratios against Mosquitto, the bars, and failures as rows', () => {
    const r: BenchResults = {
      settings: settings({
        command: 'npm run bench -- --only lockstep',
        lockstepCount: 10000,
        lockstepReps: 1,
      }),
      targets: {},
      lockstep: {
        l1: {
          pulse: { ok: true, value: { count: 10000, payloadSize: 128, runs: [run(0, 9000, 250, 90_000)] } },
          'mosquitto-persist': {
            ok: true,
            value: { count: 10000, payloadSize: 128, runs: [run(0, 10000, 200, 80_000)] },
          },
          'pulse-sqlite-balanced': { ok: false, error: 'python3 is not installed' },
        },
      },
    };
    const md = renderLockstep(r);
    assert.match(md, /\| 0 \| Pulse memory \| \*\*36,000\*\* \|/);
    assert.match(md, /lost up to 1,000 of 10,000/);
    assert.match(md, /\| 0\.72× \| 1\.25× \|/); // 36,000 / 50,000; 10 µs / 8 µs
    assert.match(md, /msgs\/s ≥ Mosquitto's \| 36,000 vs 50,000 \| \*\*FAIL\*\*/);
    assert.match(md, /CPU\/msg ≤ 1\.5 × Mosquitto's \| 10\.0 µs vs 8\.00 µs \| pass/);
    assert.match(md, /delivers all .* \| \*\*FAIL\*\*/);
    assert.match(md, /Pulse sqlite balanced \| not measured: python3 is not installed/);
  });

  it('selects the section by name and group', () => {
    const only = (s: string) => (parseBenchArgs(['--only', s]) as { scenarios: string[] }).scenarios;
    assert.deepEqual(only('lockstep'), ['l1', 'l2', 'l3']);
    assert.deepEqual(only('mqtt-lockstep,low-load'), ['l1', 'l3']);
    assert.deepEqual(only('many-devices'), ['l2']);
    assert.deepEqual(only('cluster-lockstep'), ['x2']);
    assert.throws(() => parseBenchArgs(['--lockstep-count', '70000']), /65535/);
  });

  it("takes l2's warm-up as a count, 0 for none, and refuses a blank one", () => {
    const warmup = (v: string) =>
      (parseBenchArgs([`--devices-warmup=${v}`]) as { devicesWarmupRounds: number }).devicesWarmupRounds;
    assert.equal((parseBenchArgs([]) as { devicesWarmupRounds: number }).devicesWarmupRounds, 30);
    assert.equal(warmup('0'), 0);
    assert.equal(warmup('12'), 12);
    for (const bad of ['-1', '1.5', 'x', '', ' '])
      assert.throws(() => warmup(bad), /--devices-warmup must be an integer ≥ 0/, JSON.stringify(bad));
  });
});
