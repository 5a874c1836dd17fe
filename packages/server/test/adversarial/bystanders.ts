import { at } from '@pulse/protocol/test/element';
import { performance } from 'node:perf_hooks';
import { PulseClient } from '@pulse/client';
import mqtt, { type MqttClient } from 'mqtt';
import WebSocket from 'ws';
import { token } from '../auth-helpers.js';

/**
 * Innocent clients that keep talking while an attack runs: a native publisher→subscriber pair
 * and an MQTT QoS 1 pair, each sending numbered messages at a steady rate on its own channel.
 * Their payloads carry SECRET_MARKER: an attacker that ever receives it has read another
 * client's data.
 */

export const SECRET_MARKER = 'bystander-secret-7f3a';

/**
 * About 1 KiB of markers behind each payload: freed buffers and encoder slabs of the server
 * are then full of them, so that a reply that carries stale memory shows it.
 */
const PADDING = SECRET_MARKER.repeat(48);

/** A p99 latency (ms) per pair. */
export interface LatencyReference {
  native: number;
  mqtt: number;
}

export interface BystanderEndpoints {
  wsUrl: string;
  mqttUrl: string;
}

interface Received {
  seq: number;
  latencyMs: number;
}

/** One publisher→subscriber stream: what was sent, in which phase, and what came back. */
class Stream {
  readonly sentAt: number[] = [];
  readonly phaseOf: string[] = [];
  readonly received: Received[] = [];
  /** What went wrong, with how many times. */
  private readonly errors = new Map<string, number>();

  constructor(readonly name: string) {}

  error(what: string): void {
    this.errors.set(what, (this.errors.get(what) ?? 0) + 1);
  }

  payload(phase: string): Buffer {
    const seq = this.sentAt.length;
    const at = performance.now();
    this.sentAt.push(at);
    this.phaseOf.push(phase);
    return Buffer.from(`${SECRET_MARKER}:${seq}:${at}:${PADDING}`);
  }

  onPayload(payload: Uint8Array): void {
    const [marker, seq, at] = Buffer.from(payload).toString().split(':');
    if (marker !== SECRET_MARKER)
      return this.error(`foreign payload ${Buffer.from(payload).toString('hex').slice(0, 80)}`);
    this.received.push({ seq: Number(seq), latencyMs: performance.now() - Number(at) });
  }

  /**
   * Everything that went wrong, as sentences; empty when the stream is healthy. The latency
   * under attack is compared with the larger of this stream's quiet p99 and `reference` (the
   * p99 of an unattacked server measured at the same time: the machine's own load).
   */
  problems(baseline: string, attack: string, addedLatencyMs: number, reference = 0): string[] {
    const out = [...this.errors].map(([e, n]) => `${this.name}: ${e}${n > 1 ? ` (×${n})` : ''}`);
    const seqs = this.received.map((r) => r.seq);
    const seen = new Set(seqs);
    const lost = this.sentAt.map((_, i) => i).filter((i) => !seen.has(i));
    if (lost.length > 0)
      out.push(
        `${this.name}: ${lost.length} of ${this.sentAt.length} lost (first ${lost.slice(0, 5).join(', ')})`,
      );
    if (seen.size !== seqs.length) out.push(`${this.name}: ${seqs.length - seen.size} duplicates`);
    const disorder = seqs.findIndex((s, i) => i > 0 && s <= at(seqs, i - 1));
    if (disorder > 0) out.push(`${this.name}: out of order at ${seqs[disorder - 1]} → ${seqs[disorder]}`);
    const quiet = this.p99(baseline);
    const base = Math.max(quiet, reference);
    const during = this.p99(attack);
    if (during > base + addedLatencyMs) {
      const worst = this.received.reduce((w, r) => (r.latencyMs > w.latencyMs ? r : w));
      out.push(
        `${this.name}: p99 latency ${during.toFixed(1)} ms under attack vs ${quiet.toFixed(1)} ms quiet and ${reference.toFixed(1)} ms on an unattacked server meanwhile (more than +${addedLatencyMs} ms); the slowest message was sent at ${wallClock(at(this.sentAt, worst.seq))} and took ${worst.latencyMs.toFixed(0)} ms`,
      );
    }
    return out;
  }

  p99(phase: string): number {
    const latencies = this.received
      .filter((r) => this.phaseOf[r.seq] === phase)
      .map((r) => r.latencyMs)
      .sort((a, b) => a - b);
    return latencies.length === 0
      ? Number.POSITIVE_INFINITY
      : at(latencies, Math.floor(latencies.length * 0.99));
  }

  get done(): boolean {
    return this.received.length >= this.sentAt.length;
  }
}

/** A performance.now() time as a wall-clock time in ms, comparable across threads. */
const wallClock = (t: number) => (performance.timeOrigin + t).toFixed(0);

export const BYSTANDER_NATIVE_CHANNEL = 'bystander/native';
export const BYSTANDER_MQTT_TOPIC = 'bystander/mqtt';

function mqttConnect(url: string, password: string, clientId: string): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, {
      clientId,
      username: 'bystander',
      password,
      protocolVersion: 5,
      reconnectPeriod: 0,
      connectTimeout: 5000,
    });
    client.once('connect', () => resolve(client));
    client.once('error', reject);
  });
}

export class Bystanders {
  readonly native = new Stream('native pair');
  readonly mqtt = new Stream('MQTT pair');
  private phase = 'baseline';
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly nativePub: PulseClient,
    private readonly nativeSub: PulseClient,
    private readonly mqttPub: MqttClient,
    private readonly mqttSub: MqttClient,
  ) {}

  /** Connects both pairs (authenticated on `bystander/#`) and starts sending every `intervalMs`. */
  static async start(at: BystanderEndpoints, intervalMs = 10): Promise<Bystanders> {
    const jwt = await token('bystander', ['bystander/#']);
    const ws = WebSocket as never;
    const [nativePub, nativeSub, mqttPub, mqttSub] = await Promise.all([
      PulseClient.connect(at.wsUrl, { WebSocket: ws, token: jwt }),
      PulseClient.connect(at.wsUrl, { WebSocket: ws, token: jwt }),
      mqttConnect(at.mqttUrl, jwt, `bystander-pub-${process.pid}`),
      mqttConnect(at.mqttUrl, jwt, `bystander-sub-${process.pid}`),
    ]);
    const b = new Bystanders(nativePub, nativeSub, mqttPub, mqttSub);
    await nativeSub.subscribe(BYSTANDER_NATIVE_CHANNEL, (p) => b.native.onPayload(p.payload));
    mqttSub.on('message', (_topic, payload) => b.mqtt.onPayload(payload));
    await mqttSub.subscribeAsync(BYSTANDER_MQTT_TOPIC, { qos: 1 });
    for (const c of [mqttPub, mqttSub]) c.on('error', (e) => b.mqtt.error(`client error: ${e.message}`));
    for (const c of [mqttPub, mqttSub]) c.on('close', () => b.closedEarly(b.mqtt));
    for (const c of [nativePub, nativeSub]) void c.closed.then(() => b.closedEarly(b.native));
    b.timer = setInterval(() => b.tick(), intervalMs);
    return b;
  }

  private stopped = false;

  private closedEarly(stream: Stream): void {
    if (!this.stopped) stream.error(`a connection closed during the run (${this.phase})`);
  }

  private tick(): void {
    this.nativePub
      .publish(BYSTANDER_NATIVE_CHANNEL, this.native.payload(this.phase), { ack: false })
      .catch((e) => this.stopped || this.native.error(`publish: ${e.message}`));
    this.mqttPub
      .publishAsync(BYSTANDER_MQTT_TOPIC, this.mqtt.payload(this.phase), { qos: 1 })
      .catch((e) => this.stopped || this.mqtt.error(`publish: ${e.message}`)); // a PUBACK still on its way at the end
  }

  /** Messages sent from now on belong to `phase`. */
  enter(phase: string): void {
    this.phase = phase;
  }

  /** Stops sending, waits up to `drainMs` for what is on its way, and closes. */
  async stop(drainMs = 3000): Promise<void> {
    clearInterval(this.timer);
    const deadline = Date.now() + drainMs;
    while (!(this.native.done && this.mqtt.done) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    this.stopped = true;
    await Promise.all([
      this.nativePub.close().catch(() => {}),
      this.nativeSub.close().catch(() => {}),
      this.mqttPub.endAsync(true).catch(() => {}),
      this.mqttSub.endAsync(true).catch(() => {}),
    ]);
  }

  /** What went wrong for either pair between the quiet `baseline` and the `attack` phase (see Stream.problems). */
  problems(reference: LatencyReference = { native: 0, mqtt: 0 }, addedLatencyMs = 100): string[] {
    return [
      ...this.native.problems('baseline', 'attack', addedLatencyMs, reference.native),
      ...this.mqtt.problems('baseline', 'attack', addedLatencyMs, reference.mqtt),
    ];
  }

  /** p99 latency of each pair in `phase`. */
  p99(phase: string): LatencyReference {
    return { native: this.native.p99(phase), mqtt: this.mqtt.p99(phase) };
  }

  summary(): string {
    const line = (s: Stream) =>
      `${s.name}: sent ${s.sentAt.length}, received ${s.received.length}, p99 quiet ${s.p99('baseline').toFixed(1)} ms, under attack ${s.p99('attack').toFixed(1)} ms`;
    return `${line(this.native)}; ${line(this.mqtt)}`;
  }
}
