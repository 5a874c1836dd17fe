/**
 * The cluster engine on Redis pub/sub, through ioredis: one connection that PUBLISHes, one that
 * (P)SUBSCRIBEs. Naming and globs are in redis-channels.ts.
 *
 * Connection: the engine, not ioredis, reconnects. Each attempt opens a fresh pair of clients
 * with ioredis's own retrying, offline queue and auto-resubscribe off, subscribes every interest
 * and reports `connected` only once Redis has confirmed all of it. ioredis's autoResubscribe
 * would do the re-subscribing, but it emits `ready` before it even sends the SUBSCRIBEs and
 * cannot move to another URL; a fresh pair makes both plain, and close() has one timer to stop.
 * Retries back off 250 ms, 500 ms, then 1 s (each + up to 50 %), for as long as the engine is open.
 *
 * Several URLs: ioredis takes one server per client (Sentinel and Cluster are other modes), so
 * the engine uses one URL at a time: at start the first that answers, in order; after losing a
 * connection, each retry tries the next URL of the list, round. They must be ways to one pub/sub
 * space (the nodes of one Redis Cluster, where PUBLISH reaches every node): nodes on two
 * unrelated servers never hear each other.
 *
 * Bounds: an envelope over MAX_ENVELOPE_BYTES is refused (publish false): Redis disconnects a
 * subscriber whose output buffer passes 32 MB (its default `client-output-buffer-limit pubsub`),
 * which would cost every node that wants the channel its connection. On the way in, a server
 * that sends more than MAX_UNPARSED_BYTES without completing a reply loses the connection, so a
 * hostile or broken server cannot make ioredis buffer without end. A PING every
 * HEALTH_CHECK_MS on both connections finds a server that stopped answering, and an attempt
 * not done within HEALTH_CHECK_MS is given up.
 */
import type { Redis } from 'ioredis';
import { loadIoredis } from './engine-drivers.js';
import { EngineStatus } from './engine-state.js';
import type { ClusterEngine, EngineListener, EngineOptions, EngineState } from './cluster-engine.js';
import { RedisChannels, type RedisInterest } from './redis-channels.js';
import { urlShown } from './url-shown.js';

/** The largest envelope the engine publishes (the layer's own bound is far lower by default). */
export const MAX_ENVELOPE_BYTES = 16 * 1024 * 1024;
/** Bytes the subscriber connection may receive without a whole reply: the largest envelope and its channel. */
export const MAX_UNPARSED_BYTES = MAX_ENVELOPE_BYTES + 1024 * 1024;
const HEALTH_CHECK_MS = 10_000;
const CONNECT_TIMEOUT_MS = 5000;
const RETRY_FIRST_MS = 250;
const RETRY_CAP_MS = 1000;
const RETRY_JITTER = 0.5;
/** Channels per SUBSCRIBE when re-establishing interest: bounded command size. */
const SUBSCRIBE_BATCH = 1000;
/** How long close() waits for the sockets to be gone. */
const CLOSE_WAIT_MS = 2000;

/** Knobs for tests. */
export interface RedisEngineTuning {
  /** The PING interval, and how long one connection attempt may take. */
  readonly healthCheckMs?: number;
}

/** One attempt's (then one connection's) pair of clients on one URL. */
interface Session {
  readonly url: string;
  readonly pub: Redis;
  readonly sub: Redis;
  /** `connected` was reported for it: its loss is news. */
  established: boolean;
  dropped: boolean;
  lastError?: string;
  pingOut: boolean;
  /** Bytes each connection received since its last whole reply. */
  readonly unparsed: { pub: number; sub: number };
}

interface Wanted {
  readonly interest: RedisInterest;
  refs: number;
}

const noop = () => {};

function reasonOf(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return reasonOf(err.errors[0]);
  const text = err instanceof Error ? err.message || (err as NodeJS.ErrnoException).code : String(err);
  return text?.split('\n')[0]?.trim() || 'unknown error';
}

/** CLIENT SETNAME takes printable ASCII without spaces. */
function clientName(nodeName: string): string {
  return `pulse:${nodeName}`.replace(/[^\x21-\x7e]/g, '_');
}

export class RedisEngine implements ClusterEngine {
  readonly kind = 'redis';
  private readonly status = new EngineStatus();
  private readonly channels: RedisChannels;
  private readonly filters = new Map<string, readonly RedisInterest[]>();
  private readonly wanted = new Map<string, Wanted>();
  private session: Session | undefined;
  /** Sessions not yet gone, for close() to wait out. */
  private readonly live = new Set<Session>();
  /** The URL the next retry tries. */
  private nextUrl = 0;
  private retries = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private healthTimer: NodeJS.Timeout | undefined;
  private readonly healthCheckMs: number;

  constructor(
    private readonly options: EngineOptions,
    tuning: RedisEngineTuning = {},
  ) {
    if (options.urls.length === 0) throw new Error('redis engine: no URL');
    this.channels = new RedisChannels(options.prefix);
    this.healthCheckMs = tuning.healthCheckMs ?? HEALTH_CHECK_MS;
  }

  get state(): EngineState {
    return this.status.current;
  }

  /** A method, not a field test: TypeScript would keep a narrowing across the awaits that close() can run in. */
  private closed(): boolean {
    return this.status.current === 'closed';
  }

  async start(listener: EngineListener, required: boolean): Promise<void> {
    if (this.closed()) return;
    this.status.listener = listener;
    this.healthTimer = setInterval(() => this.checkHealth(), this.healthCheckMs);
    this.healthTimer.unref();
    let failure = 'no URL';
    for (const [i, url] of this.options.urls.entries()) {
      if (this.closed()) return;
      try {
        await this.connect(url);
        this.nextUrl = (i + 1) % this.options.urls.length;
        return;
      } catch (err) {
        failure = reasonOf(err);
      }
    }
    if (this.closed()) return;
    const reason = `redis at ${this.options.urls.map(urlShown).join(', ')} unreachable: ${failure}`;
    if (required) {
      await this.close();
      throw new Error(reason);
    }
    this.status.set('disconnected', reason);
    this.retryLater();
  }

  addInterest(filter: string): void {
    if (this.status.current === 'closed' || this.filters.has(filter)) return;
    const interests = this.channels.filter(filter);
    this.filters.set(filter, interests);
    for (const interest of interests) {
      const key = `${interest.kind} ${interest.name}`;
      const wanted = this.wanted.get(key);
      if (wanted !== undefined) {
        wanted.refs++;
        continue;
      }
      this.wanted.set(key, { interest, refs: 1 });
      // Not ready yet: the attempt under way subscribes everything wanted once it is.
      const session = this.session;
      if (session?.sub.status === 'ready') this.subscribe(session, interest.kind, [interest.name]);
    }
  }

  removeInterest(filter: string): void {
    const interests = this.filters.get(filter);
    if (interests === undefined) return;
    this.filters.delete(filter);
    for (const interest of interests) {
      const key = `${interest.kind} ${interest.name}`;
      const wanted = this.wanted.get(key);
      if (wanted === undefined || --wanted.refs > 0) continue;
      this.wanted.delete(key);
      const sub = this.session?.sub;
      if (sub?.status !== 'ready') continue;
      const done =
        interest.kind === 'channel' ? sub.unsubscribe(interest.name) : sub.punsubscribe(interest.name);
      done.catch(noop);
    }
  }

  async settled(): Promise<void> {
    const session = this.session;
    if (this.status.current !== 'connected' || session === undefined) return;
    // One connection, in order: the PONG comes after Redis took every SUBSCRIBE sent before it.
    await session.sub.ping().catch(noop);
  }

  publish(channel: string, envelope: Uint8Array): boolean {
    const session = this.session;
    if (this.status.current !== 'connected' || session === undefined || session.pub.status !== 'ready')
      return false;
    if (envelope.byteLength > MAX_ENVELOPE_BYTES) return false;
    const bytes = Buffer.from(envelope.buffer, envelope.byteOffset, envelope.byteLength);
    // A reply that never comes (connection lost) is the at-most-once the contract allows.
    session.pub.publish(this.channels.channel(channel), bytes).then(() => {
      session.unparsed.pub = 0;
    }, noop);
    return true;
  }

  async close(): Promise<void> {
    if (this.status.current === 'closed') return;
    this.status.set('closed');
    clearTimeout(this.retryTimer);
    clearInterval(this.healthTimer);
    const sessions = [...this.live];
    for (const session of sessions) this.drop(session);
    await Promise.all(sessions.map((s) => this.gone(s)));
  }

  /** One attempt on `url`: connected and every interest confirmed, or it throws and leaves nothing open. */
  private async connect(url: string): Promise<void> {
    const { Redis } = await loadIoredis();
    const session = this.open(Redis, url);
    // A server that accepts and then says nothing (stopped, or behind a dead proxy) would hold
    // the attempt, and the retries after it, for ever: ioredis bounds the TCP connect only.
    const deadline = setTimeout(
      () => this.lost(session, `no answer within ${this.healthCheckMs} ms`),
      this.healthCheckMs,
    );
    try {
      await Promise.all([session.pub.connect(), session.sub.connect()]);
      this.watchBytes(session, 'pub');
      this.watchBytes(session, 'sub');
      const names: Record<RedisInterest['kind'], string[]> = { channel: [], pattern: [] };
      for (const { interest } of this.wanted.values()) names[interest.kind].push(interest.name);
      const confirmed: Promise<unknown>[] = [];
      for (const kind of ['channel', 'pattern'] as const) {
        for (let i = 0; i < names[kind].length; i += SUBSCRIBE_BATCH) {
          confirmed.push(this.command(session, kind, names[kind].slice(i, i + SUBSCRIBE_BATCH)));
        }
      }
      await Promise.all(confirmed);
    } catch (err) {
      this.drop(session);
      throw new Error(session.lastError ?? reasonOf(err));
    } finally {
      clearTimeout(deadline);
    }
    if (session.dropped || this.status.current === 'closed') {
      this.drop(session);
      throw new Error(session.lastError ?? 'connection closed');
    }
    session.established = true;
    this.retries = 0;
    this.status.set('connected');
  }

  private open(Redis: typeof import('ioredis').Redis, url: string): Session {
    const client = () =>
      new Redis(url, {
        lazyConnect: true,
        retryStrategy: () => null,
        enableOfflineQueue: false,
        autoResubscribe: false,
        autoResendUnfulfilledCommands: false,
        connectTimeout: CONNECT_TIMEOUT_MS,
        connectionName: clientName(this.options.nodeName),
        disableClientInfo: true,
      });
    const session: Session = {
      url,
      pub: client(),
      sub: client(),
      established: false,
      dropped: false,
      pingOut: false,
      unparsed: { pub: 0, sub: 0 },
    };
    this.session = session;
    this.live.add(session);
    for (const redis of [session.pub, session.sub]) {
      redis.on('error', (err) => {
        session.lastError = reasonOf(err);
      });
      redis.on('close', () => this.lost(session, session.lastError ?? 'the server closed the connection'));
      redis.on('end', () => {
        if (session.pub.status === 'end' && session.sub.status === 'end') this.live.delete(session);
      });
    }
    session.sub.on('messageBuffer', (_channel: Buffer, message: Buffer) => this.deliver(session, message));
    session.sub.on('pmessageBuffer', (_pattern: string, _channel: Buffer, message: Buffer) =>
      this.deliver(session, message),
    );
    return session;
  }

  /** Counts what arrives on one connection between whole replies (each reply resets it). */
  private watchBytes(session: Session, which: 'pub' | 'sub'): void {
    session[which].stream.on('data', (chunk: Buffer) => {
      session.unparsed[which] += chunk.length;
      if (session.unparsed[which] > MAX_UNPARSED_BYTES) {
        this.lost(session, `more than ${MAX_UNPARSED_BYTES} bytes without a whole reply`);
      }
    });
  }

  private command(session: Session, kind: RedisInterest['kind'], names: string[]): Promise<unknown> {
    const sent = kind === 'channel' ? session.sub.subscribe(...names) : session.sub.psubscribe(...names);
    return sent.then(() => {
      session.unparsed.sub = 0;
    });
  }

  /** A (P)SUBSCRIBE on a connection in use; a refusal (an ACL, say) costs the connection, so the state never claims interest Redis does not hold. */
  private subscribe(session: Session, kind: RedisInterest['kind'], names: string[]): void {
    this.command(session, kind, names).catch((err) =>
      this.lost(session, `SUBSCRIBE refused: ${reasonOf(err)}`),
    );
  }

  private deliver(session: Session, message: Buffer): void {
    session.unparsed.sub = 0;
    if (session.dropped || this.status.current === 'closed') return;
    try {
      this.status.listener?.message(message);
    } catch {
      // The layer catches its own errors; a throw here would unwind through ioredis's parser.
    }
  }

  private checkHealth(): void {
    const session = this.session;
    if (session === undefined || !session.established || session.dropped) return;
    if (session.pingOut) {
      this.lost(session, `no answer to PING in ${this.healthCheckMs} ms`);
      return;
    }
    session.pingOut = true;
    Promise.all([session.pub.ping(), session.sub.ping()]).then(() => {
      session.pingOut = false;
      session.unparsed.pub = 0;
      session.unparsed.sub = 0;
    }, noop);
  }

  /** One of the session's connections ended or misbehaved: both go, and a retry follows if it was in use. */
  private lost(session: Session, reason: string): void {
    if (session.dropped) return;
    session.lastError = reason;
    this.drop(session);
    if (!session.established || this.status.current === 'closed') return;
    const index = this.options.urls.indexOf(session.url);
    this.nextUrl = (index + 1) % this.options.urls.length;
    this.status.set('disconnected', `redis at ${urlShown(session.url)} lost: ${reason}`);
    this.retryLater();
  }

  private drop(session: Session): void {
    if (session.dropped) return;
    session.dropped = true;
    if (this.session === session) this.session = undefined;
    for (const redis of [session.pub, session.sub]) {
      redis.disconnect();
      // Not a FIN to wait on: a server that stopped answering would hold the socket.
      redis.stream?.destroy();
    }
  }

  /** Resolves when both of the session's clients have ended (or after CLOSE_WAIT_MS). */
  private gone(session: Session): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, CLOSE_WAIT_MS);
      timer.unref();
      const check = () => {
        if (!this.live.has(session)) done();
      };
      function done() {
        clearTimeout(timer);
        session.pub.off('end', check);
        session.sub.off('end', check);
        resolve();
      }
      session.pub.on('end', check);
      session.sub.on('end', check);
      check();
    });
  }

  private retryLater(): void {
    if (this.status.current === 'closed') return;
    const base = Math.min(RETRY_FIRST_MS * 2 ** this.retries, RETRY_CAP_MS);
    this.retries++;
    this.retryTimer = setTimeout(
      () => {
        const url = this.options.urls[this.nextUrl] ?? this.options.urls[0];
        this.nextUrl = (this.nextUrl + 1) % this.options.urls.length;
        if (url === undefined) return;
        this.connect(url).catch(() => this.retryLater());
      },
      base * (1 + Math.random() * RETRY_JITTER),
    );
  }
}
