/** The lock-step section's block: l1 (lock-step 1 → 1), l2 (many devices), l3 (low-load latency). */
import type { Qos } from '../generator/mqtt-packets.js';
import { L1_TARGETS, L2_TARGETS, L3_RUNS, LOCKSTEP_LABELS, type L3Run } from '../lockstep-targets.js';
import type { BenchResults, Outcome } from '../results.js';
import { percentile, sortedCopy } from '../percentiles.js';
import { type LockstepRun, lockstepFigures } from '../scenarios/lockstep.js';
import type { LowLoadRun } from '../scenarios/low-load.js';
import { DISTURBED_CPU } from '../scenarios/measure.js';
import { cpuPer, micros } from './cluster.js';
import { count, dash, percent, ratio, table } from './format.js';
import { renderHeader } from './markdown.js';

const flag = (otherCpu: number): string => (otherCpu >= DISTURBED_CPU ? ' ⚠' : '');
const why = (o: Outcome<unknown>): string =>
  o.ok ? '' : `not measured: ${o.error.replaceAll('|', '\\|').replaceAll('\n', ' ')}`;

/** One QoS of one l1 target: the run with the median rate, the range, the worst delivery. */
export interface L1Summary {
  qos: Qos;
  runs: number;
  median: LockstepRun;
  messagesPerSec: number;
  minPerSec: number;
  maxPerSec: number;
  cpuPerMessageMicros: number;
  /** The most any run lost (publications written that never arrived). */
  worstLost: number;
  sent: number;
  duplicates: number;
  /** Runs whose publisher ended on an error (a DISCONNECT, a timeout waiting for acks). */
  errors: string[];
}

export function summarizeL1(runs: readonly LockstepRun[], qos: Qos): L1Summary | null {
  const mine = runs.filter((r) => r.qos === qos);
  if (mine.length === 0) return null;
  const rated = mine
    .map((r) => ({ r, f: lockstepFigures(r) }))
    .sort((a, b) => a.f.messagesPerSec - b.f.messagesPerSec);
  const mid = rated[Math.floor(rated.length / 2)]!;
  return {
    qos,
    runs: mine.length,
    median: mid.r,
    messagesPerSec: mid.f.messagesPerSec,
    minPerSec: rated[0]!.f.messagesPerSec,
    maxPerSec: rated[rated.length - 1]!.f.messagesPerSec,
    cpuPerMessageMicros: mid.f.cpuPerMessageMicros,
    worstLost: Math.max(...rated.map((x) => x.f.lost)),
    sent: mid.r.pub.sent,
    duplicates: Math.max(...mine.map((r) => r.sub.duplicates)),
    errors: mine.flatMap((r) => (r.pub.error ? [r.pub.error] : [])),
  };
}

function renderL1(r: BenchResults, out: string[]): void {
  const l1 = r.lockstep?.l1;
  if (!l1) return;
  const s = r.settings;
  const reps = s.lockstepReps ?? 1;
  out.push(
    `### (l1) Lock-step MQTT 5, 1 publisher → 1 subscriber, ${count(s.lockstepCount ?? NaN)} × ${s.mqttPayloadSize} B, ` +
      `median of ${reps} runs per QoS`,
    '',
    'Synchronous python3 clients over plain TCP (`packages/bench/py/sync_mqtt.py`). The publisher writes every ' +
      'PUBLISH back to back, one write each, and reads nothing until the end, except when the ' +
      "broker's Receive Maximum (MQTT 5 flow control) is reached: then it reads acknowledgements until it is " +
      'below (the "waits" column). The subscriber reads one packet at a time (fixed header, then the rest) and ' +
      'writes its PUBACK (PUBREC, then PUBCOMP after PUBREL) before reading the next. Rate = arrived / time from ' +
      'the first publish to the last delivery; server CPU from /proc/PID/stat over the run, per delivered message. ' +
      "Pulse runs with its shipped defaults (no flags but the listeners and `--log warn`). Every target's " +
      'server is up for the whole scenario, each warmed by an unmeasured run per QoS, and the runs go round ' +
      'the targets (QoS, then run, then target), so that a slow stretch of the machine falls on all alike.',
    '',
  );
  const mosquitto = l1['mosquitto-persist'];
  const ref = (qos: Qos) => (mosquitto?.ok ? summarizeL1(mosquitto.value.runs, qos) : null);
  const rows: string[][] = [];
  const bars: string[][] = [];
  const levels = [
    ...new Set(L1_TARGETS.flatMap((t) => (l1[t]?.ok ? l1[t].value.runs.map((x) => x.qos) : []))),
  ].sort();
  for (const qos of levels) {
    for (const target of L1_TARGETS) {
      const o = l1[target];
      if (!o) continue;
      if (!o.ok) {
        rows.push([`${qos}`, LOCKSTEP_LABELS[target], why(o), '', '', '', '', '', '']);
        continue;
      }
      const m = summarizeL1(o.value.runs, qos);
      if (!m) continue;
      const peer = ref(qos);
      const arrived =
        m.worstLost === 0
          ? `all${m.runs > 1 ? ` (${m.runs} runs)` : ''}`
          : `**lost up to ${count(m.worstLost)} of ${count(m.sent)}**`;
      const notes = [
        ...(m.duplicates > 0 ? [`${m.duplicates} duplicates`] : []),
        ...(m.errors.length > 0 ? [`publisher: ${m.errors[0]!.replaceAll('|', '\\|')}`] : []),
      ];
      rows.push([
        `${qos}`,
        `${LOCKSTEP_LABELS[target]}${flag(m.median.otherCpu)}`,
        `**${count(m.messagesPerSec)}**`,
        `${count(m.minPerSec)}–${count(m.maxPerSec)}`,
        micros(m.cpuPerMessageMicros),
        arrived + (notes.length > 0 ? `; ${notes.join('; ')}` : ''),
        count(m.median.pub.flowControlWaits ?? NaN),
        target === 'mosquitto-persist' ? dash : ratio(m.messagesPerSec, peer?.messagesPerSec ?? NaN),
        target === 'mosquitto-persist'
          ? dash
          : ratio(m.cpuPerMessageMicros, peer?.cpuPerMessageMicros ?? NaN),
      ]);
      if (target === 'pulse' && peer) {
        bars.push([
          `QoS ${qos}: Pulse memory msgs/s ≥ Mosquitto's`,
          `${count(m.messagesPerSec)} vs ${count(peer.messagesPerSec)}`,
          m.messagesPerSec >= peer.messagesPerSec ? 'pass' : '**FAIL**',
        ]);
        bars.push([
          `QoS ${qos}: Pulse memory CPU/msg ≤ 1.5 × Mosquitto's`,
          `${micros(m.cpuPerMessageMicros)} vs ${micros(peer.cpuPerMessageMicros)}`,
          m.cpuPerMessageMicros <= 1.5 * peer.cpuPerMessageMicros ? 'pass' : '**FAIL**',
        ]);
      }
      if (target === 'pulse' && qos === 0) {
        bars.push([
          'QoS 0: Pulse memory delivers all (default configuration)',
          `${count(m.sent - m.worstLost)} of ${count(m.sent)} (worst run)`,
          m.worstLost === 0 ? 'pass' : '**FAIL**',
        ]);
      }
    }
  }
  out.push(
    table(
      [
        'QoS',
        'target',
        'msgs/s',
        'range',
        'server CPU / msg',
        'arrived (worst run)',
        'publisher waits',
        'msgs/s / Mosquitto',
        'CPU / Mosquitto',
      ],
      rows,
      2,
    ),
    '',
  );
  if (bars.length > 0) out.push('Issue 12 bars (l1):', '', table(['bar', 'figures', 'result'], bars), '');
}

function renderL2(r: BenchResults, out: string[]): void {
  const l2 = r.lockstep?.l2;
  if (!l2) return;
  const s = r.settings;
  out.push(
    `### (l2) Many devices: ${count(s.devices ?? NaN)} MQTT 5 clients, one QoS 1 message each every 100 ms to its own topic → 1 subscriber on \`#\``,
    '',
    `${s.devicesRounds ?? NaN} messages per device (offered: ${count((s.devices ?? NaN) * 10)} msgs/s), written by one ` +
      'synchronous python3 process on a schedule spread evenly over each 100 ms; the subscriber (QoS 1) reads ' +
      'one packet at a time and acknowledges each before the next. Latency: write → read, same monotonic clock. ' +
      '"publisher lag" is how far the devices process fell behind its own schedule at worst (when it is large, ' +
      'the offered load was not offered).' +
      (s.devicesWarmupRounds
        ? ` An unmeasured run of ${s.devicesWarmupRounds} messages per device on connections of its own comes first, on the same server, as l1's and l3's warm-ups.`
        : ''),
    '',
  );
  const peer = l2['mosquitto-persist'];
  const rows: string[][] = [];
  for (const target of L2_TARGETS) {
    const o = l2[target];
    if (!o) continue;
    if (!o.ok) {
      rows.push([LOCKSTEP_LABELS[target], why(o), '', '', '', '', '', '', '']);
      continue;
    }
    const v = o.value;
    const p = peer?.ok && target !== 'mosquitto-persist' ? peer.value : null;
    rows.push([
      `${LOCKSTEP_LABELS[target]}${flag(v.otherCpu)}`,
      `**${count(v.deliveriesPerSec)}**`,
      v.received === v.sent ? 'all' : `**${count(v.received)} of ${count(v.sent)}**`,
      micros(v.cpuPerMessageMicros),
      micros(v.p50Micros),
      micros(v.p99Micros),
      micros(v.maxMicros),
      micros(v.publisherMaxLagUs),
      p
        ? `${ratio(v.deliveriesPerSec, p.deliveriesPerSec)} / ${ratio(v.cpuPerMessageMicros, p.cpuPerMessageMicros)} / ${ratio(v.p99Micros, p.p99Micros)}`
        : dash,
    ]);
  }
  out.push(
    table(
      [
        'target',
        'deliveries/s',
        'arrived',
        'server CPU / msg',
        'p50',
        'p99',
        'max',
        'publisher lag',
        'vs Mosquitto: rate / CPU / p99',
      ],
      rows,
    ),
    '',
  );
}

/** The peer each l3 run is held against. */
const L3_PEER: Record<L3Run, L3Run | null> = {
  'mqtt-pulse': 'mqtt-mosquitto-persist',
  'mqtt-mosquitto-persist': null,
  'ws-pulse': 'ws-nats',
  'ws-nats': null,
  'mqtt-mqtt-relay': null,
  'ws-naive-ws': null,
};

function renderL3(r: BenchResults, out: string[]): void {
  const l3 = r.lockstep?.l3;
  if (!l3) return;
  const s = r.settings;
  out.push(
    `### (l3) Latency at low load: 1 publisher → 1 subscriber, ${count(s.lowLoadRate ?? NaN)} msgs/s open loop, ${s.mqttPayloadSize} B`,
    '',
    `The generator's clients (MQTT 3.1.1 at QoS 0; the native protocol, or NATS, over WebSocket), both in ` +
      `one generator process that reads as soon as anything arrives; ${s.warmupMs} ms warm-up, one ` +
      `${s.measureMs} ms window. Latency: write → read of every publication.` +
      ((s.lowLoadReps ?? 1) > 1
        ? ` ${s.lowLoadReps} rounds, each running every target once on a fresh server; a row is the ` +
          `round of median p50, with the range of p50 over the rounds, and the bars compare medians.`
        : ''),
    '',
  );
  const rows: string[][] = [];
  const bars: string[][] = [];
  for (const run of L3_RUNS) {
    const o = l3[run];
    if (!o) continue;
    const proto = run.startsWith('mqtt') ? 'MQTT' : 'WebSocket';
    if (!o.ok) {
      rows.push([proto, LOCKSTEP_LABELS[run], why(o), '', '', '', '', '']);
      continue;
    }
    const m = o.value.result;
    const peerRun = L3_PEER[run];
    const peer = peerRun ? l3[peerRun] : undefined;
    const pm = peer?.ok ? peer.value.result : null;
    const p50s = o.value.rounds?.map((x) => x.p50Micros) ?? [];
    const p99 = medianOf(o.value.rounds?.map((x) => x.p99Micros)) ?? m.p99Micros;
    rows.push([
      proto,
      `${LOCKSTEP_LABELS[run]}${flag(m.otherCpu)}`,
      count(m.deliveriesPerSec),
      `**${micros(m.p50Micros)}**${p50s.length > 1 ? ` (${micros(Math.min(...p50s))}–${micros(Math.max(...p50s))})` : ''}`,
      micros(p99),
      count(m.latencySamples),
      percent(o.value.check.received, o.value.check.expected),
      micros(cpuPer(m.serverCpu, m.deliveriesPerSec)),
      pm && peer?.ok
        ? `${ratio(m.p50Micros, pm.p50Micros)} / ${ratio(p99, medianOf(peer.value.rounds?.map((x) => x.p99Micros)) ?? pm.p99Micros)}`
        : dash,
    ]);
    if (pm && peerRun && peer?.ok) {
      const won = roundsWon(o.value.rounds, peer.value.rounds);
      bars.push([
        `${LOCKSTEP_LABELS[run]}: p50 ≤ ${LOCKSTEP_LABELS[peerRun]}'s`,
        `${micros(m.p50Micros)} vs ${micros(pm.p50Micros)}${won ? ` (lower or equal in ${won})` : ''}`,
        m.p50Micros <= pm.p50Micros ? 'pass' : '**FAIL**',
      ]);
      bars.push([`${LOCKSTEP_LABELS[run]}: p99 < 1 ms`, micros(p99), p99 < 1000 ? 'pass' : '**FAIL**']);
    }
  }
  out.push(
    table(
      [
        'protocol',
        'target',
        'msgs/s',
        'p50',
        'p99',
        'samples',
        'delivered',
        'server CPU / msg',
        'p50 / p99 vs peer',
      ],
      rows,
      2,
    ),
    '',
  );
  if (bars.length > 0) out.push('Issue 12 bars (l3):', '', table(['bar', 'figures', 'result'], bars), '');
}

type Rounds = LowLoadRun['rounds'];

/** The lower middle value (nearest-rank p50), as medianRound picks its round; undefined for none. */
function medianOf(values: number[] | undefined): number | undefined {
  if (values === undefined || values.length === 0) return undefined;
  return percentile(sortedCopy(values), 50);
}

/** "k of n rounds" in which the run's p50 was at most its peer's of the same round; '' for one round. */
function roundsWon(mine: Rounds, peers: Rounds): string {
  if (mine === undefined || peers === undefined || mine.length < 2 || mine.length !== peers.length) return '';
  const won = mine.filter((r, i) => r.p50Micros <= (peers[i] as { p50Micros: number }).p50Micros).length;
  return `${won} of ${mine.length} rounds`;
}

export function renderLockstep(r: BenchResults): string {
  const out = renderHeader(r);
  renderL1(r, out);
  renderL2(r, out);
  renderL3(r, out);
  out.push(
    `⚠: other processes used ≥ ${Math.round(DISTURBED_CPU * 100)} % of a core during the run (the figure is disturbed).`,
  );
  return out.join('\n').trimEnd() + '\n';
}
