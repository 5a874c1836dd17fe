import { Worker } from 'node:worker_threads';
import { Broker, Publication, type Subscriber } from '@pulse/core';
import {
  decodeFrame,
  encodeFrame,
  FrameError,
  LENGTH_PREFIX_BYTES,
  type PublishFrame,
} from '@pulse/protocol';
import { type MqttDecodeTiming, runMqttDecodeMicro } from './mqtt-decode-micro.js';
import { timeOp } from './micro-timing.js';

export interface CodecTiming {
  nsPerOp: number;
  /** Frame bytes (length prefix included) per second, in MiB. */
  mibPerSec: number;
}

export interface MicroRow {
  payloadSize: number;
  frameBytes: number;
  encode: CodecTiming;
  decode: CodecTiming;
}

/** One `subscribe` + `unsubscribe` pair, timed as one operation. */
export interface SubscribeTiming {
  /** `exact`: a concrete channel; `wildcard`: a filter with `+`. */
  filter: 'exact' | 'wildcard';
  /** Other subscribers already holding the same filter. */
  others: number;
  nsPerOp: number;
}

/** `new Publication` + `broker.publish`, which returns once every subscriber's `deliver()` ran. */
export interface PublishTiming {
  /** `exact`: subscribers hold the channel itself; `wildcard`: they hold a `+` filter matching it. */
  via: 'exact' | 'wildcard';
  subscribers: number;
  /** Whether the thread had delivered through the other path first (see `BrokerTask`). */
  mixed: boolean;
  nsPerPublish: number;
  /** nsPerPublish / subscribers (NaN without subscribers). */
  nsPerDelivery: number;
}

export interface BrokerMicro {
  subscribe: SubscribeTiming[];
  publish: PublishTiming[];
  payloadSize: number;
}

export interface MicroResult {
  codec: MicroRow[];
  broker: BrokerMicro;
  /** Absent in results written before this row existed. */
  mqttDecode?: MqttDecodeTiming[];
}

export interface MicroOptions {
  sizes: number[];
  warmupMs: number;
  measureMs: number;
}

/**
 * One broker measurement; each runs in a fresh worker thread, so that no measurement inherits the
 * JIT's type feedback from another. `mixed` first delivers 1,000-subscriber publications through the
 * other path (exact subscribers come as a `Set`, wildcard matches as an array), as a server with
 * both kinds of subscription does: the broker's delivery loop then sees both shapes.
 */
export type BrokerTask =
  | { kind: 'subscribe'; filter: 'exact' | 'wildcard'; others: number }
  | { kind: 'publish'; via: 'exact' | 'wildcard'; subscribers: number; mixed: boolean };

export const BROKER_TASKS: readonly BrokerTask[] = [
  { kind: 'subscribe', filter: 'exact', others: 0 },
  { kind: 'subscribe', filter: 'exact', others: 1000 },
  { kind: 'subscribe', filter: 'wildcard', others: 0 },
  ...[0, 1, 100, 1000].map(
    (n): BrokerTask => ({ kind: 'publish', via: 'exact', subscribers: n, mixed: false }),
  ),
  ...[1, 1000].map((n): BrokerTask => ({ kind: 'publish', via: 'wildcard', subscribers: n, mixed: false })),
  { kind: 'publish', via: 'exact', subscribers: 1000, mixed: true },
  { kind: 'publish', via: 'wildcard', subscribers: 1000, mixed: true },
];

/** Payload bytes of the broker's publications. */
export const BROKER_PAYLOAD = 64;

/** Codec micro-benchmarks: encode and decode of a native publish frame. */
export function runCodecMicro(o: MicroOptions): MicroRow[] {
  return o.sizes.map((payloadSize) => {
    const frame: PublishFrame = {
      type: 'publish',
      channel: 'bench.micro',
      payload: Buffer.alloc(payloadSize, 0x61),
    };
    const encoded = encodeFrame(frame);
    const body = encoded.subarray(LENGTH_PREFIX_BYTES);
    const check = decodeFrame(body);
    if (check instanceof FrameError || check.type !== 'publish' || check.payload.length !== payloadSize) {
      throw new Error('decodeFrame does not round-trip encodeFrame');
    }
    const timing = (ns: number): CodecTiming => ({
      nsPerOp: ns,
      mibPerSec: (encoded.length / ns) * (1e9 / 1048576),
    });
    return {
      payloadSize,
      frameBytes: encoded.length,
      encode: timing(timeOp(() => encodeFrame(frame), o.warmupMs, o.measureMs)),
      decode: timing(timeOp(() => decodeFrame(body), o.warmupMs, o.measureMs)),
    };
  });
}

/** A connection as the broker sees it, whose `deliver()` only counts. */
class CountingSubscriber implements Subscriber {
  filters: string[] | undefined = undefined;
  presenceChannels: Set<string> | undefined = undefined;
  received = 0;
  constructor(readonly id: string) {}
  deliver(): void {
    this.received++;
  }
}

const CHANNEL = 'bench/micro';
const WILDCARD = 'bench/+';
const LIMITS = { maxChannels: 1_000_000, maxSubscriptionsPerConnection: 1000 };

/** A fresh broker with `n` counting subscribers on `filter`. */
function brokerWith(filter: string, n: number): { broker: Broker; subscribers: CountingSubscriber[] } {
  const broker = new Broker(LIMITS);
  const subscribers: CountingSubscriber[] = [];
  for (let i = 0; i < n; i++) {
    const s = new CountingSubscriber(`crowd-${i}`);
    const refused = broker.subscribe(s, filter);
    if (refused) throw new Error(`subscribe ${filter}: ${refused.message}`);
    subscribers.push(s);
  }
  return { broker, subscribers };
}

type Timing = Pick<MicroOptions, 'warmupMs' | 'measureMs'>;

function timeSubscribe(filter: 'exact' | 'wildcard', others: number, o: Timing): SubscribeTiming {
  const name = filter === 'exact' ? CHANNEL : WILDCARD;
  const { broker } = brokerWith(name, others);
  const me = new CountingSubscriber('me');
  const op = (): unknown => broker.subscribe(me, name) ?? broker.unsubscribe(me, name);
  if (op() !== undefined || me.filters?.length !== 0 || broker.stats.subscriptions !== others) {
    throw new Error(`subscribe + unsubscribe of ${name} did not leave the broker as it was`);
  }
  const nsPerOp = timeOp(op, o.warmupMs, o.measureMs);
  if (broker.stats.subscriptions !== others || broker.channelCount !== (others > 0 ? 1 : 0)) {
    throw new Error(`subscribe + unsubscribe of ${name} leaked subscriptions`);
  }
  return { filter, others, nsPerOp };
}

/** `publish` as a server calls it; checks every delivery arrived, and returns the publish. */
function publisher(via: 'exact' | 'wildcard', n: number): (() => unknown) & { check(): void } {
  const { broker, subscribers } = brokerWith(via === 'exact' ? CHANNEL : WILDCARD, n);
  const payload = Buffer.alloc(BROKER_PAYLOAD, 0x61);
  const publish = (): unknown => broker.publish(new Publication({ channel: CHANNEL, payload }));
  // The first publish also fills the wildcard match cache: every later one takes the cached path.
  const first = publish();
  if (first !== n) throw new Error(`publish to ${n} subscribers (${via}) returned ${String(first)}`);
  const check = (): void => {
    const { publications, deliveries } = broker.stats;
    const received = subscribers.reduce((sum, s) => sum + s.received, 0);
    if (deliveries !== publications * n || received !== deliveries) {
      throw new Error(`publish to ${n} subscribers (${via}): ${received} of ${publications * n} delivered`);
    }
  };
  return Object.assign(publish, { check });
}

function timePublish(via: 'exact' | 'wildcard', n: number, mixed: boolean, o: Timing): PublishTiming {
  if (mixed) {
    const other = publisher(via === 'exact' ? 'wildcard' : 'exact', 1000);
    timeOp(other, o.warmupMs, o.warmupMs);
  }
  const publish = publisher(via, n);
  const nsPerPublish = timeOp(publish, o.warmupMs, o.measureMs);
  publish.check();
  return {
    via,
    subscribers: n,
    mixed,
    nsPerPublish,
    nsPerDelivery: n > 0 ? nsPerPublish / n : Number.NaN,
  };
}

/** Runs one broker measurement in this thread (the worker's side of `runBrokerMicro`). */
export function runBrokerTask(task: BrokerTask, o: Timing): SubscribeTiming | PublishTiming {
  return task.kind === 'subscribe'
    ? timeSubscribe(task.filter, task.others, o)
    : timePublish(task.via, task.subscribers, task.mixed, o);
}

function inWorker(task: BrokerTask, o: Timing): Promise<SubscribeTiming | PublishTiming> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./micro-worker.js', import.meta.url), {
      workerData: { task, warmupMs: o.warmupMs, measureMs: o.measureMs },
    });
    let result: SubscribeTiming | PublishTiming | undefined;
    worker.once('message', (m: SubscribeTiming | PublishTiming) => {
      result = m;
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (result) resolve(result);
      else reject(new Error(`broker micro-benchmark ${JSON.stringify(task)}: worker exited with ${code}`));
    });
  });
}

/**
 * Broker micro-benchmarks: subscribe / unsubscribe and publish on the real `Broker` of
 * `@pulse/core`, in process, with subscribers whose `deliver()` only counts (no encoding, no
 * queue, no socket). One worker thread per measurement, one at a time.
 */
export async function runBrokerMicro(o: Timing, tasks = BROKER_TASKS): Promise<BrokerMicro> {
  const out: BrokerMicro = { payloadSize: BROKER_PAYLOAD, subscribe: [], publish: [] };
  for (const task of tasks) {
    const timing = await inWorker(task, o);
    if (task.kind === 'subscribe') out.subscribe.push(timing as SubscribeTiming);
    else out.publish.push(timing as PublishTiming);
  }
  return out;
}

export async function runMicro(o: MicroOptions): Promise<MicroResult> {
  const codec = runCodecMicro(o);
  const mqttDecode = runMqttDecodeMicro(o);
  return { codec, mqttDecode, broker: await runBrokerMicro(o) };
}
