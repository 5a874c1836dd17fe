/**
 * The cluster engine on a NATS server (or cluster of servers), through nats.js.
 *
 * Subjects: each channel level is one NATS token under the prefix's token; levels that are not
 * plain `[A-Za-z0-9_:-]+` are escaped (`~` + base64url of the UTF-8), `+` is `*`, a last `#` is
 * the parent subject and `parent.>`, and channels too long for a control line share one overflow
 * subject. The whole mapping, and why it is one-to-one, is in nats-subjects.ts.
 *
 * Connection: nats.js reconnects forever by itself and re-sends every subscription on each
 * reconnect; the engine reports `connected` only after a flush (PING/PONG) has shown that the
 * server holds them. nats.js can keep retrying a first connect (`waitOnFirstConnect`), but that
 * promise can neither be awaited for "first attempt failed" nor cancelled by close(), so before
 * the first success the engine runs its own retry loop of single connects, at the same pace.
 * No echo: a node never needs its own publications back.
 */
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { loadNats } from './engine-drivers.js';
import { EngineStatus } from './engine-state.js';
import type { ClusterEngine, EngineListener, EngineOptions, EngineState } from './cluster-engine.js';
import { NatsSubjects } from './nats-subjects.js';
import { urlShown } from './url-shown.js';

const RECONNECT_WAIT_MS = 1000;
const RECONNECT_JITTER_MS = 500;
const CONNECT_TIMEOUT_MS = 5000;

/** One subject some filters want, and its subscription on the current connection. */
interface Wanted {
  refs: number;
  sub?: Subscription;
}

const oneLine = (err: unknown) =>
  (err instanceof Error ? err.message : String(err)).split('\n')[0]?.trim() || 'unknown error';

export class NatsEngine implements ClusterEngine {
  readonly kind = 'nats';
  private readonly status = new EngineStatus();
  private nc: NatsConnection | undefined;
  private readonly subjects: NatsSubjects;
  /** Each filter with interest, and the subjects it stands for. */
  private readonly filters = new Map<string, readonly string[]>();
  private readonly wanted = new Map<string, Wanted>();
  private retryTimer: NodeJS.Timeout | undefined;
  /** The connect attempt in flight, for close() to wait out. */
  private attempt: Promise<void> | undefined;
  /** Counts connection changes: a flush that answers after a newer change says nothing. */
  private generation = 0;

  constructor(private readonly options: EngineOptions) {
    this.subjects = new NatsSubjects(options.prefix);
  }

  get state(): EngineState {
    return this.status.current;
  }

  async start(listener: EngineListener, required: boolean): Promise<void> {
    this.status.listener = listener;
    try {
      await this.tryConnect();
    } catch (err) {
      const reason = `nats at ${this.options.urls.map(urlShown).join(', ')} unreachable: ${oneLine(err)}`;
      if (required) {
        await this.close();
        throw new Error(reason);
      }
      this.status.set('disconnected', reason);
      if (this.nc === undefined) this.retryLater();
    }
  }

  addInterest(filter: string): void {
    if (this.status.current === 'closed' || this.filters.has(filter)) return;
    const subjects = this.subjects.filter(filter);
    this.filters.set(filter, subjects);
    for (const subject of subjects) {
      let wanted = this.wanted.get(subject);
      if (wanted === undefined) {
        wanted = { refs: 0 };
        this.wanted.set(subject, wanted);
      }
      wanted.refs++;
      // While disconnected nats.js keeps it and sends it on reconnect, with the others.
      if (wanted.sub === undefined && this.nc !== undefined) wanted.sub = this.subscribe(this.nc, subject);
    }
  }

  removeInterest(filter: string): void {
    const subjects = this.filters.get(filter);
    if (subjects === undefined) return;
    this.filters.delete(filter);
    for (const subject of subjects) {
      const wanted = this.wanted.get(subject);
      if (wanted === undefined || --wanted.refs > 0) continue;
      this.wanted.delete(subject);
      try {
        wanted.sub?.unsubscribe();
      } catch {
        // A closed connection has no subscription left to end.
      }
    }
  }

  async settled(): Promise<void> {
    if (this.status.current !== 'connected') return;
    // SUBs and this PING share one ordered connection: the PONG comes after the server took them.
    await this.nc?.flush().catch(() => {});
  }

  publish(channel: string, envelope: Uint8Array): boolean {
    const nc = this.nc;
    // nats.js would queue it during a reconnect: the layer wants to count it lost instead.
    if (this.status.current !== 'connected' || nc === undefined) return false;
    if (envelope.byteLength > (nc.info?.max_payload ?? 0)) return false;
    try {
      nc.publish(this.subjects.channel(channel), envelope);
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.status.current === 'closed') return;
    this.status.set('closed');
    clearTimeout(this.retryTimer);
    this.generation++;
    await this.attempt?.catch(() => {});
    const nc = this.nc;
    this.nc = undefined;
    await nc?.close().catch(() => {});
  }

  /** One connect over the server list; on success the engine uses it from then on. */
  private tryConnect(): Promise<void> {
    const attempt = this.connectOnce();
    this.attempt = attempt;
    return attempt.finally(() => {
      if (this.attempt === attempt) this.attempt = undefined;
    });
  }

  private async connectOnce(): Promise<void> {
    const { connect } = await loadNats();
    const nc = await connect({
      servers: [...this.options.urls],
      name: `pulse:${this.options.nodeName}`,
      noEcho: true,
      noRandomize: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: RECONNECT_WAIT_MS,
      reconnectJitter: RECONNECT_JITTER_MS,
      timeout: CONNECT_TIMEOUT_MS,
      pingInterval: 10_000,
      maxPingOut: 3,
    });
    if (this.status.current === 'closed') {
      await nc.close().catch(() => {});
      return;
    }
    this.nc = nc;
    this.watch(nc);
    for (const [subject, wanted] of this.wanted) wanted.sub = this.subscribe(nc, subject);
    await this.confirm(nc);
  }

  private retryLater(): void {
    if (this.status.current === 'closed') return;
    const wait = RECONNECT_WAIT_MS + Math.random() * RECONNECT_JITTER_MS;
    this.retryTimer = setTimeout(() => {
      this.tryConnect().catch(() => {
        // Connected but lost before the first PONG: nats.js is reconnecting that one already.
        if (this.nc === undefined) this.retryLater();
      });
    }, wait);
  }

  /** `connected` once the server has answered a PING sent after every SUB. */
  private async confirm(nc: NatsConnection): Promise<void> {
    const generation = ++this.generation;
    await nc.flush();
    if (generation === this.generation && this.nc === nc) this.status.set('connected');
  }

  /** Follows the connection's status events, and its end when nats.js gives up by itself. */
  private watch(nc: NatsConnection): void {
    void (async () => {
      try {
        for await (const status of nc.status()) {
          if (this.nc !== nc) return;
          if (status.type === 'disconnect') {
            this.generation++;
            this.status.set('disconnected', `nats ${status.server} disconnected`);
          } else if (status.type === 'reconnect') {
            this.confirm(nc).catch(() => {
              // Lost again before the PONG: its disconnect event follows.
            });
          }
        }
      } catch {
        // The iterator ends with the connection; closed() below says what happens next.
      }
    })();
    nc.closed().then(
      (err) => this.ended(nc, err ? oneLine(err) : 'connection closed'),
      (err: unknown) => this.ended(nc, oneLine(err)),
    );
  }

  private ended(nc: NatsConnection, reason: string): void {
    if (this.nc !== nc || this.status.current === 'closed') return;
    this.nc = undefined;
    for (const wanted of this.wanted.values()) wanted.sub = undefined;
    this.generation++;
    this.status.set('disconnected', `nats closed the connection: ${reason}`);
    this.retryLater();
  }

  private subscribe(nc: NatsConnection, subject: string): Subscription | undefined {
    try {
      return nc.subscribe(subject, { callback: (err, msg) => this.deliver(err, msg) });
    } catch {
      // Only on a closed connection: the next connection subscribes again.
      return undefined;
    }
  }

  private deliver(err: Error | null, msg: Msg): void {
    if (err !== null || this.status.current === 'closed') return;
    try {
      this.status.listener?.message(msg.data);
    } catch {
      // The layer catches its own errors; a throw here would stop nats.js's parser.
    }
  }
}
