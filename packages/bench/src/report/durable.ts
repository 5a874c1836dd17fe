/** The durable scenario's block (d1): m1 with persistent sessions on each storage, and its bars. */
import { DURABLE_TARGET_NAMES, type DurableTargetName, type TargetName } from '../dialects/index.js';
import type { BenchResults } from '../results.js';
import type { MqttThroughputResult } from '../scenarios/mqtt-throughput.js';
import { MOSQUITTO_TARGET_CONFIG, PULSE_TARGET_ARGS, TARGET_LABELS } from '../targets/launch.js';
import { count, dash, ratio, table } from './format.js';
import { renderHeader } from './markdown.js';
import { loadNotes, qosRate, throughputTables } from './mqtt.js';
import { outcomesOf, resultValue } from './outcomes.js';

/** In d1, `pulse` is the in-memory baseline. */
export const durableLabel = (name: TargetName): string =>
  name === 'pulse' ? 'Pulse memory' : TARGET_LABELS[name];

const MOSQUITTO_PERSIST = ['mosquitto-persist', 'mosquitto-persist-eager'] as const;

const code = (words: string[]): string => `\`${words.join(' ')}\``;

/** How each target stores, and what it loses: on `kill -9`, and on power loss. */
const DURABILITY: Record<DurableTargetName, [storage: string, kill: string, power: string]> = {
  pulse: [
    '`--storage-engine memory` (the default): sessions and messages live as long as the process',
    'everything',
    'everything',
  ],
  'pulse-sqlite-strict': [
    `${code(PULSE_TARGET_ARGS['pulse-sqlite-strict']('DIR'))}: SQLite in WAL mode, \`synchronous = FULL\`; ` +
      "one commit per event-loop turn, fsynced, before that turn's PUBACK / PUBREC go out",
    'nothing acknowledged',
    'nothing acknowledged',
  ],
  'pulse-sqlite-balanced': [
    `${code(PULSE_TARGET_ARGS['pulse-sqlite-balanced']('DIR'))}: \`synchronous = NORMAL\`; one commit ` +
      "per event-loop turn before that turn's acknowledgements; the WAL is fsynced at checkpoints",
    'nothing acknowledged',
    'the commits since the last checkpoint',
  ],
  'pulse-sqlite-fast': [
    `${code(PULSE_TARGET_ARGS['pulse-sqlite-fast']('DIR'))}: a commit every \`storage.flush_interval_ms\` ` +
      '(100 ms); acknowledgements do not wait for it',
    'the last 100 ms',
    'the last 100 ms, and the commits since the last checkpoint',
  ],
  'mosquitto-persist': [
    `${code(MOSQUITTO_TARGET_CONFIG['mosquitto-persist']('DIR'))} (as shipped): a snapshot of the whole ` +
      'in-memory state every 30 minutes and at a clean shutdown',
    'everything since the last snapshot (up to 30 min)',
    'everything since the last snapshot',
  ],
  'mosquitto-persist-eager': [
    `${code(MOSQUITTO_TARGET_CONFIG['mosquitto-persist-eager']('DIR'))}: a snapshot of the whole state ` +
      "after every main-loop pass that changed it, taken after that pass's acknowledgements were written",
    "the last pass's changes, acknowledged ones included",
    'the same (each snapshot is fsynced, then renamed over the last)',
  ],
};

export function renderDurable(r: BenchResults): string {
  const s = r.settings;
  const d1 = outcomesOf<DurableTargetName, MqttThroughputResult>(r, DURABLE_TARGET_NAMES, 'd1');
  const rate = (name: DurableTargetName, qos: number) =>
    resultValue<MqttThroughputResult>(r, name, 'd1', (v) => qosRate(v, qos)) ?? Number.NaN;
  const memory = (qos: number) => rate('pulse', qos);
  const out: string[] = [
    ...renderHeader(r),
    '### (d1) Durable storage: 1 publisher → 1 subscriber, persistent sessions, QoS 1 / 2, max rate ' +
      `(closed loop, best of ${s.mqttWindows.join(' / ')} outstanding)`,
    '',
    `Scenario m1 (MQTT 3.1.1, ${s.mqttPayloadSize} B payloads, the same windows and generator nap of ` +
      `${s.mqttNapMs} ms) at QoS 1 and 2, with both clients on persistent sessions: clean session 0, ` +
      'fixed client ids (`bench-d1-pub`, `bench-d1-sub`). A broker that stores sessions stores every ' +
      'message for the subscriber until it is acknowledged and, at QoS 2, the packet id of every ' +
      'publication until the publisher releases it. Every run (QoS × window) has a fresh server and, ' +
      `where there is one, a fresh, empty data directory (DIR; on ${s.dataFs ?? 'an unknown file system'}), ` +
      'deleted after the run. Mosquitto runs with Nagle on (its default, its better m1 run at QoS 1 and 2) ' +
      'and the same queue and inflight limits as in m1; Pulse with the same flags as in m1 plus its own.',
    '',
    table(
      ['target', 'storage', 'a `kill -9` loses', 'a power loss loses'],
      d1.map(([name]) => [durableLabel(name), ...DURABILITY[name]]),
      4,
    ),
    '',
    table(
      ['target', 'QoS 1 messages/s', 'QoS 2 messages/s', 'QoS 1 / memory', 'QoS 2 / memory'],
      d1.map(([name]) => [
        durableLabel(name),
        `**${count(rate(name, 1))}**`,
        `**${count(rate(name, 2))}**`,
        ratio(rate(name, 1), memory(1)),
        ratio(rate(name, 2), memory(2)),
      ]),
    ),
    '',
    ...throughputTables(r, d1, durableLabel),
    ...loadNotes(
      d1.flatMap(([, o]) => (o.ok ? o.value.runs.map((run) => run.result) : [])),
      s,
    ),
  ];

  const bars: string[][] = [];
  const verdict = (pulse: number, other: number, factor: number): string =>
    Number.isFinite(pulse) && Number.isFinite(other) ? (pulse >= factor * other ? 'pass' : '**FAIL**') : dash;
  const balanced = (qos: number) => rate('pulse-sqlite-balanced', qos);
  if (r.targets['pulse-sqlite-balanced']?.d1 && r.targets.pulse?.d1) {
    bars.push([
      '(d1) Pulse sqlite balanced, QoS 1 ≥ 0.5 × Pulse memory',
      count(balanced(1)),
      `Pulse memory: ${count(memory(1))}`,
      ratio(balanced(1), memory(1)),
      verdict(balanced(1), memory(1), 0.5),
    ]);
  }
  for (const qos of [1, 2]) {
    if (!r.targets['pulse-sqlite-balanced']?.d1) break;
    // Against the better of Mosquitto's two persistent runs.
    const [best, other] = MOSQUITTO_PERSIST.filter((m) => r.targets[m]?.d1)
      .map((m) => [m, rate(m, qos)] as const)
      .reduce<readonly [DurableTargetName | null, number]>(
        (a, b) => (Number.isFinite(b[1]) && !(b[1] <= a[1]) ? b : a),
        [null, Number.NaN],
      );
    if (best === null && !MOSQUITTO_PERSIST.some((m) => r.targets[m]?.d1)) continue;
    bars.push([
      `(d1) Pulse sqlite balanced, QoS ${qos} ≥ Mosquitto with persistence`,
      count(balanced(qos)),
      best === null ? dash : `${TARGET_LABELS[best]}: ${count(other)}`,
      ratio(balanced(qos), other),
      verdict(balanced(qos), other, 1),
    ]);
  }
  if (bars.length > 0) {
    out.push(
      '#### Durable bars (Pulse sqlite balanced; against Mosquitto, the better of its two persistent runs)',
      '',
      table(['bar', 'Pulse sqlite balanced', 'against', 'ratio', 'result'], bars),
      '',
    );
  }
  return out.join('\n').trimEnd() + '\n';
}
