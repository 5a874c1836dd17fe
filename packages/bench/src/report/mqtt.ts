/** The MQTT part of the generated tables: scenarios m1, m2, m3, Pulse's ratios and its MQTT bars. */
import { MQTT_TARGET_NAMES, type MqttTargetName, type TargetName } from '../dialects/index.js';
import type { BenchResults, Outcome, RunSettings } from '../results.js';
import type { DeliveryCheck, FanoutResult } from '../scenarios/fanout.js';
import { DISTURBED_CPU, type Measurement } from '../scenarios/measure.js';
import type { MqttRetainedResult, RetainedRound } from '../scenarios/mqtt-retained.js';
import type { MqttCheck, MqttThroughputResult } from '../scenarios/mqtt-throughput.js';
import { TARGET_LABELS } from '../targets/launch.js';
import { failedRow, outcomesOf, resultValue } from './outcomes.js';
import { cores, count, dash, mib, ms, percent, ratio, table } from './format.js';

/** A generator process this busy, or all of them together this share of their cores, is near its limit. */
export const GENERATOR_LIMIT = 0.85;

type MqttKey = 'm1' | 'm2' | 'm3';

/** The outcomes of scenario `key`, in target order. */
const outcomes = <T>(r: BenchResults, key: MqttKey) =>
  outcomesOf<MqttTargetName, T>(r, MQTT_TARGET_NAMES, key);
const value = <T>(r: BenchResults, name: MqttTargetName, key: MqttKey, pick: (v: T) => number | undefined) =>
  resultValue<T>(r, name, key, pick);

interface Load {
  generatorCpu: number;
  generatorBusiestCpu: number;
  generatorSystemCpu: number;
  serverCpu: number;
  coreBusy: number[];
  otherCpu: number;
}

/** True when the generator, not the server, may be what bounds the figure. */
export function generatorNearLimit(m: Load, generatorCores: number): boolean {
  return (
    m.generatorBusiestCpu >= GENERATOR_LIMIT ||
    m.generatorCpu >= GENERATOR_LIMIT * Math.max(1, generatorCores)
  );
}

/** The label, with ⚠ for a disturbed window and ‡ where the generator was near its limit. */
function label(r: BenchResults, text: string, m: Load): string {
  const marks = `${m.otherCpu >= DISTURBED_CPU ? ' ⚠' : ''}${generatorNearLimit(m, r.settings.generatorCores) ? ' ‡' : ''}`;
  return `${text}${marks}`;
}

function resources(m: Load): string[] {
  return [
    cores(m.serverCpu),
    `${cores(m.generatorCpu)} (${cores(m.generatorSystemCpu)})`,
    cores(m.generatorBusiestCpu),
    m.coreBusy.map(cores).join(' / '),
  ];
}

const RESOURCE_HEAD = ['server CPU', 'generator CPU (sys)', 'busiest gen. process', 'cores busy'];

function problems(check: DeliveryCheck, m?: Pick<Measurement, 'closed' | 'stalls'>): string {
  const parts: string[] = [];
  if (m && m.closed > 0) parts.push(`${m.closed} conns closed`);
  if (m && m.stalls > 0) parts.push(`${m.stalls} stalls`);
  if (check.anomalies) parts.push(`${check.anomalies} anomalies`);
  return parts.length > 0 ? `, ${parts.join(', ')}` : '';
}

function delivered(check: DeliveryCheck, m?: Pick<Measurement, 'closed' | 'stalls'>): string {
  return `${percent(check.received, check.expected)}${problems(check, m)}`;
}

function acked(check: MqttCheck, qos: number): string {
  return qos === 0 ? dash : percent(check.acked, check.sent);
}

/** Every MQTT measurement window, for the notes under the tables. */
function loads(r: BenchResults): Load[] {
  const all: Load[] = [];
  for (const name of MQTT_TARGET_NAMES) {
    const t = r.targets[name];
    if (t?.m1?.ok) for (const run of t.m1.value.runs) all.push(run.result);
    if (t?.m2?.ok) for (const w of t.m2.value.windows) all.push(w.result);
    if (t?.m3?.ok) all.push(t.m3.value.load);
  }
  return all;
}

/**
 * The 1 → 1 tables of m1 (and d1): each target's best run per QoS, then every window. `labelOf`
 * names the targets.
 */
export function throughputTables(
  r: BenchResults,
  rows: [TargetName, Outcome<MqttThroughputResult>][],
  labelOf: (name: TargetName) => string = (name) => TARGET_LABELS[name],
): string[] {
  const s = r.settings;
  return [
    table(
      [
        'target',
        'QoS',
        'messages/s',
        'window',
        'p50',
        'p99',
        'delivered',
        'acked',
        'server RSS idle → peak',
        ...RESOURCE_HEAD,
      ],
      rows.flatMap(([name, o]) =>
        o.ok
          ? o.value.best.map((run) => [
              label(r, labelOf(name), run.result),
              String(run.qos),
              `**${count(run.result.deliveriesPerSec)}**`,
              String(run.window),
              ms(run.result.p50Micros),
              ms(run.result.p99Micros),
              delivered(run.check, run.result),
              acked(run.check, run.qos),
              `${mib(o.value.serverIdleRssKiB)} → ${mib(run.result.serverPeakRssKiB)}`,
              ...resources(run.result),
            ])
          : [failedRow(name, o.error, 13, labelOf(name))],
      ),
    ),
    '',
    'Messages/s by window (publications outstanding), p99 in brackets:',
    '',
    table(
      ['target', 'QoS', ...s.mqttWindows.map((w) => `window ${w}`)],
      rows.flatMap(([name, o]) =>
        o.ok
          ? o.value.best.map((b) => [
              labelOf(name),
              String(b.qos),
              ...s.mqttWindows.map((w) => {
                const run = o.value.runs.find((x) => x.qos === b.qos && x.window === w);
                if (!run) return dash;
                const flag = generatorNearLimit(run.result, s.generatorCores) ? ' ‡' : '';
                return `${count(run.result.deliveriesPerSec)} (${ms(run.result.p99Micros)})${flag}`;
              }),
            ])
          : [[labelOf(name), dash, ...s.mqttWindows.map(() => dash)]],
      ),
    ),
    '',
  ];
}

/** What ‡ and ⚠ mean, if any of the windows `all` is flagged. */
export function loadNotes(all: Load[], s: RunSettings): string[] {
  const out: string[] = [];
  if (all.some((m) => generatorNearLimit(m, s.generatorCores))) {
    out.push(
      `‡: the generator was near its limit in this window (a generator process at ≥ ${GENERATOR_LIMIT * 100} % ` +
        `of a core, or all of them at ≥ ${GENERATOR_LIMIT * 100} % of their ${s.generatorCores} core(s)): ` +
        'the figure may be bounded by the generator rather than the server.',
      '',
    );
  }
  if (all.some((m) => m.otherCpu >= DISTURBED_CPU)) {
    out.push(
      `⚠: other processes used ≥ ${DISTURBED_CPU * 100} % of a core during this window; rerun for a clean figure.`,
      '',
    );
  }
  return out;
}

export function renderMqtt(r: BenchResults): string[] {
  const s = r.settings;
  const m1 = outcomes<MqttThroughputResult>(r, 'm1');
  const m2 = outcomes<FanoutResult>(r, 'm2');
  const m3 = outcomes<MqttRetainedResult>(r, 'm3');
  if (m1.length + m2.length + m3.length === 0) return [];
  const out: string[] = [
    '### MQTT',
    '',
    `MQTT 3.1.1 over TCP, ${s.mqttPayloadSize} B payloads. Pulse runs with \`--mqtt-port P\` (its MQTT ` +
      'listener); Mosquitto 2 with a generated config, as is ("Mosquitto", Nagle on) and with ' +
      '`set_tcp_nodelay true` ("Mosquitto nodelay"); Aedes with `net.createServer({ noDelay: true }, ' +
      `aedes.handle)\`. In m1 the generator process sleeps ${s.mqttNapMs} ms between reads. ` +
      '"busiest gen. process": CPU of the busiest generator process.',
    '',
  ];

  if (m1.length > 0) {
    out.push(
      '#### (m1) 1 publisher → 1 subscriber, QoS 0 / 1 / 2, max rate ' +
        `(closed loop, best of ${s.mqttWindows.join(' / ')} outstanding)`,
      '',
      ...throughputTables(r, m1),
    );
  }

  if (m2.length > 0) {
    out.push(
      `#### (m2) Fan-out: 1 publisher → ${count(s.subscribers)} subscribers, QoS 0, max rate ` +
        `(closed loop, best of ${s.fanoutWindows.join(' / ')} in flight)`,
      '',
      table(
        [
          'target',
          'deliveries/s',
          'publications/s',
          'window',
          'p50',
          'p99',
          'last sub. p99',
          'delivered',
          'server RSS idle → peak',
          ...RESOURCE_HEAD,
        ],
        m2.map(([name, o]) => {
          if (!o.ok) return failedRow(name, o.error, 13);
          const { result, check, window } = o.value.best;
          return [
            label(r, TARGET_LABELS[name], result),
            `**${count(result.deliveriesPerSec)}**`,
            count(result.publishesPerSec),
            String(window),
            ms(result.p50Micros),
            ms(result.p99Micros),
            ms(result.lastP99Micros),
            delivered(check, result),
            `${mib(o.value.serverIdleRssKiB)} → ${mib(result.serverPeakRssKiB)}`,
            ...resources(result),
          ];
        }),
      ),
      '',
      'Deliveries/s by window (publications in flight), p99 in brackets:',
      '',
      table(
        ['target', ...s.fanoutWindows.map((w) => `window ${w}`)],
        m2.map(([name, o]) => [
          TARGET_LABELS[name],
          ...(o.ok
            ? o.value.windows.map(
                (w) =>
                  `${count(w.result.deliveriesPerSec)} (${ms(w.result.p99Micros)})` +
                  (generatorNearLimit(w.result, s.generatorCores) ? ' ‡' : ''),
              )
            : s.fanoutWindows.map(() => dash)),
        ]),
      ),
      '',
    );
  }

  if (m3.length > 0) {
    out.push(
      `#### (m3) ${count(s.retainedTopics)} retained topics → ${count(s.retainedSubscribers)} new subscribers ` +
        `of \`bench/retained/#\` (QoS 0; median of ${s.retainedRounds} rounds)`,
      '',
      table(
        [
          'target',
          'time until all received',
          'messages/s',
          'all rounds',
          'delivered',
          'server RSS idle → stored → peak',
          ...RESOURCE_HEAD,
        ],
        m3.map(([name, o]) => {
          if (!o.ok) return failedRow(name, o.error, 10);
          const v = o.value;
          const m = v.median;
          return [
            label(r, TARGET_LABELS[name], v.load),
            ms(m.ms * 1000),
            `**${count(m.messagesPerSec)}**`,
            v.rounds.map(roundTime).join(', '),
            retainedDelivered(v),
            `${mib(v.serverIdleRssKiB)} → ${mib(v.rssAfterStoreKiB)} → ${mib(v.serverPeakRssKiB)}`,
            ...resources(v.load),
          ];
        }),
      ),
      '',
      'A round: fresh clients connect, then all subscribe at once; from the first SUBSCRIBE written to the ' +
        'last client holding every retained message. "delivered" and the CPU columns cover all rounds.',
      '',
    );
  }

  out.push(...loadNotes(loads(r), s));
  out.push(...ratiosAndBars(r));
  return out;
}

function roundTime(round: RetainedRound): string {
  return round.complete === 0 || Number.isNaN(round.messagesPerSec)
    ? `incomplete (${round.complete} clients)`
    : ms(round.ms * 1000);
}

function retainedDelivered(v: MqttRetainedResult): string {
  const expected = v.rounds.reduce((n, round) => n + round.expected, 0);
  const received = v.rounds.reduce((n, round) => n + round.received, 0);
  const anomalies = v.rounds.reduce((n, round) => n + round.anomalies, 0);
  return `${percent(received, expected)}${anomalies > 0 ? `, ${anomalies} anomalies` : ''}`;
}

export function qosRate(v: MqttThroughputResult, qos: number): number | undefined {
  return v.best.find((run) => run.qos === qos)?.result.deliveriesPerSec;
}

const MOSQUITTOS = ['mosquitto', 'mosquitto-nodelay'] as const;

function ratiosAndBars(r: BenchResults): string[] {
  if (!r.targets.pulse) return [];
  const peers = (['mosquitto', 'mosquitto-nodelay', 'aedes'] as const).filter((p) => r.targets[p]);
  const m1 = (qos: number) => (name: MqttTargetName) =>
    value<MqttThroughputResult>(r, name, 'm1', (v) => qosRate(v, qos));
  const m1Rss = (name: MqttTargetName) =>
    value<MqttThroughputResult>(r, name, 'm1', (v) =>
      Math.max(...v.runs.map((run) => run.result.serverPeakRssKiB)),
    );
  const m2 = (name: MqttTargetName) =>
    value<FanoutResult>(r, name, 'm2', (v) => v.best.result.deliveriesPerSec);
  const m2Rss = (name: MqttTargetName) =>
    value<FanoutResult>(r, name, 'm2', (v) => Math.max(...v.windows.map((w) => w.result.serverPeakRssKiB)));
  const m3 = (name: MqttTargetName) =>
    value<MqttRetainedResult>(r, name, 'm3', (v) => v.median.messagesPerSec);
  const m3Rss = (name: MqttTargetName) => value<MqttRetainedResult>(r, name, 'm3', (v) => v.serverPeakRssKiB);
  const metrics: { label: string; key: MqttKey; get: (name: MqttTargetName) => number | undefined }[] = [
    { label: '(m1) QoS 0 messages/s (higher is better)', key: 'm1', get: m1(0) },
    { label: '(m1) QoS 1 messages/s (higher is better)', key: 'm1', get: m1(1) },
    { label: '(m1) QoS 2 messages/s (higher is better)', key: 'm1', get: m1(2) },
    { label: '(m1) server peak RSS (lower is better)', key: 'm1', get: m1Rss },
    { label: '(m2) deliveries/s (higher is better)', key: 'm2', get: m2 },
    { label: '(m2) server peak RSS (lower is better)', key: 'm2', get: m2Rss },
    { label: '(m3) messages/s (higher is better)', key: 'm3', get: m3 },
    { label: '(m3) server peak RSS (lower is better)', key: 'm3', get: m3Rss },
  ];
  const out: string[] = [];
  const rows = metrics
    .filter((m) => r.targets.pulse?.[m.key])
    .map((m) => {
      const pulse = m.get('pulse') ?? Number.NaN;
      return [m.label, ...peers.map((p) => ratio(pulse, m.get(p) ?? Number.NaN))];
    });
  if (peers.length > 0 && rows.length > 0) {
    out.push(
      '#### Pulse (MQTT) relative to each MQTT broker',
      '',
      table(['metric', ...peers.map((p) => `Pulse / ${TARGET_LABELS[p]}`)], rows),
      '',
    );
  }

  // The bars compare with the better of Mosquitto's two runs, metric by metric.
  const bars: string[][] = [];
  const verdict = (ok: boolean | undefined): string => (ok === undefined ? dash : ok ? 'pass' : '**FAIL**');
  const bar = (
    text: string,
    key: MqttKey,
    get: (name: MqttTargetName) => number | undefined,
    factor: number,
  ): void => {
    if (!r.targets.pulse?.[key]) return;
    let best: MqttTargetName | undefined;
    let other = Number.NaN;
    for (const m of MOSQUITTOS) {
      const v = r.targets[m]?.[key] ? get(m) : undefined;
      if (v !== undefined && Number.isFinite(v) && !(v <= other)) {
        best = m;
        other = v;
      }
    }
    if (best === undefined && !MOSQUITTOS.some((m) => r.targets[m]?.[key])) return;
    const pulse = get('pulse');
    const known = pulse !== undefined && Number.isFinite(pulse) && best !== undefined;
    bars.push([
      text,
      best === undefined ? dash : `${TARGET_LABELS[best]}: ${count(other)}`,
      known ? ratio(pulse, other) : dash,
      verdict(known ? pulse >= factor * other : undefined),
    ]);
  };
  bar('(m2) fan-out 1 → 1,000 QoS 0 deliveries/s ≥ 5× Mosquitto', 'm2', m2, 5);
  for (const qos of [0, 1, 2]) bar(`(m1) 1 → 1 QoS ${qos} messages/s ≥ Mosquitto`, 'm1', m1(qos), 1);
  if (bars.length > 0) {
    out.push(
      '#### MQTT bars (Pulse, against the better of the two Mosquitto runs)',
      '',
      table(['bar', 'Mosquitto (better run)', 'Pulse / Mosquitto', 'result'], bars),
      '',
    );
  }
  return out;
}
