/**
 * Cluster history on NATS JetStream (nats-server with `-js`), through the JetStream API's
 * request/reply subjects (no JetStream client library: every reply is checked here).
 *
 * One stream per cluster prefix, `PULSE_H_<hash of the prefix>`, file storage, with one
 * subject per channel, `$PH.<hash of the prefix>.<base64url sha-256 of the channel>` (no
 * publication subject starts with `$`: nats-subjects.ts). Each message is an entry: the
 * envelope bytes, with headers `Pulse-Offset`, `Pulse-Epoch` and `Pulse-Expires`. Offsets are
 * contiguous per channel by optimistic concurrency: an append carries
 * `Nats-Expected-Last-Subject-Sequence` (the stream sequence of the channel's last message,
 * 0 for none) and the next offset; when another node appended first, JetStream refuses it
 * (10071), the node reads the channel's last message again and retries. A node appends to one
 * channel one at a time, so its own publications keep their order. A channel without messages
 * gets a new epoch (its first message, or a marker of offset 0 written by a read, holds it).
 * `max_msgs_per_subject` is the largest `[[history]]` size; reads keep a rule's own size.
 *
 * Its own connection (nats.js reconnecting for ever); after each reconnect the stream is
 * checked (created when missing) and the per-channel cache of last messages is dropped.
 */
import { createHash } from 'node:crypto';
import type { HistoryRule, StreamPosition } from '@pulse/core';
import type { NatsConnection } from '@nats-io/transport-node';
import { loadNats, loadedNats } from './engine-drivers.js';
import type { EngineOptions } from './cluster-engine.js';
import {
  type ClusterHistory,
  MAX_READ_ENTRIES,
  type StoredEntry,
  type StreamQuery,
  type StreamRead,
  isEpoch,
  newClusterEpoch,
  offsetOf,
} from './cluster-history.js';

const REQUEST_TIMEOUT_MS = 5000;
/** Bytes of one JetStream API reply read at most (a message holds at most the server's max_payload, as base64). */
export const MAX_REPLY_BYTES = 16 * 1024 * 1024;
/** Bytes of entries one read returns at most. */
export const MAX_READ_BYTES = 64 * 1024 * 1024;
/** Appends retried after a conflict with another node before giving up. */
const MAX_ATTEMPTS = 50;
/** Channels whose last message a node remembers. */
const MAX_CACHED = 10_000;
const WRONG_LAST_SEQUENCE = 10071;
const NO_MESSAGE = 10037;
const NO_STREAM = 10059;

interface Last {
  readonly seq: number;
  readonly offset: number;
  readonly epoch: string;
}

interface StoredMessage extends Last {
  readonly bytes: Buffer;
  readonly expiresAt: number | undefined;
}

/** The stream is not there: JetStream says so, or nothing answers on its subjects. */
function streamMissing(err: unknown): boolean {
  if (err instanceof JetStreamError) return err.code === NO_STREAM;
  const text = `${(err as Error)?.message} ${((err as Error)?.cause as Error | undefined)?.message}`;
  return /no responders/i.test(text);
}

const hash = (text: string) => createHash('sha256').update(text, 'utf8').digest();

class JetStreamError extends Error {
  constructor(
    message: string,
    readonly code: number | undefined,
  ) {
    super(message);
  }
}

/** A JetStream API reply: a JSON object, bounded, with `error` turned into a throw. */
function apiReply(data: Uint8Array): Record<string, unknown> {
  if (data.length > MAX_REPLY_BYTES) throw new Error(`nats history: a reply of ${data.length} bytes`);
  let reply: unknown;
  try {
    reply = JSON.parse(Buffer.from(data).toString('utf8'));
  } catch {
    throw new Error('nats history: a reply that is not JSON');
  }
  if (typeof reply !== 'object' || reply === null || Array.isArray(reply))
    throw new Error('nats history: malformed reply');
  const error = (reply as { error?: { err_code?: unknown; description?: unknown } }).error;
  if (error !== undefined) {
    const code = typeof error?.err_code === 'number' ? error.err_code : undefined;
    const text = typeof error?.description === 'string' ? error.description.slice(0, 200) : 'error';
    throw new JetStreamError(`jetstream: ${text}`, code);
  }
  return reply as Record<string, unknown>;
}

/** `NATS/1.0\r\nName: value\r\n…` (the headers of a stored message, from base64). */
function headerMap(encoded: unknown): Map<string, string> {
  const map = new Map<string, string>();
  if (typeof encoded !== 'string') return map;
  const lines = Buffer.from(encoded, 'base64').toString('latin1').split('\r\n');
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) map.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return map;
}

export class NatsHistory implements ClusterHistory {
  readonly kind = 'nats';
  private nc: NatsConnection | undefined;
  private streamReady = false;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly stream: string;
  private readonly root: string;
  private readonly last = new Map<string, Last>();
  /** Per channel, the append under way: the next waits for it. */
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(
    private readonly options: EngineOptions,
    /** The largest `[[history]]` size: the stream keeps that many messages per channel. */
    private readonly maxEntries: number = 1000,
  ) {
    const token = hash(options.prefix).toString('hex').slice(0, 16);
    this.stream = `PULSE_H_${token}`;
    this.root = `$PH.${token}.`;
  }

  get ready(): boolean {
    return !this.closed && this.streamReady && this.nc !== undefined && !this.nc.isClosed();
  }

  async start(): Promise<void> {
    try {
      await this.connectOnce();
    } catch {
      this.retryLater();
    }
  }

  private retryLater(): void {
    if (this.closed) return;
    this.retryTimer = setTimeout(() => void this.start(), 1000);
    this.retryTimer.unref();
  }

  private async connectOnce(): Promise<void> {
    const { connect } = await loadNats();
    const nc = await connect({
      servers: [...this.options.urls],
      name: `pulse:${this.options.nodeName}:history`,
      noRandomize: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1000,
      timeout: REQUEST_TIMEOUT_MS,
    });
    if (this.closed) {
      await nc.close().catch(() => {});
      return;
    }
    this.nc = nc;
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === 'disconnect') this.streamReady = false;
        else if (status.type === 'reconnect') {
          this.last.clear();
          this.ensureStream().catch(() => {});
        }
      }
    })().catch(() => {});
    nc.closed().then(() => {
      if (this.nc !== nc) return;
      this.nc = undefined;
      this.streamReady = false;
      this.retryLater();
    });
    await this.ensureStream().catch(() => {
      // JetStream not enabled, or refused: not ready; tried again after the next reconnect.
    });
  }

  private async api(subject: string, body: unknown): Promise<Record<string, unknown>> {
    const nc = this.nc;
    if (nc === undefined) throw new Error('nats history: not connected');
    const msg = await nc.request(subject, JSON.stringify(body), { timeout: REQUEST_TIMEOUT_MS });
    return apiReply(msg.data);
  }

  private async ensureStream(): Promise<void> {
    const config = {
      name: this.stream,
      subjects: [`${this.root}*`],
      retention: 'limits',
      storage: 'file',
      discard: 'old',
      max_msgs_per_subject: Math.max(1, this.maxEntries),
      max_msgs: -1,
      max_bytes: -1,
      max_age: 0,
      num_replicas: 1,
    };
    try {
      const info = await this.api(`$JS.API.STREAM.INFO.${this.stream}`, {});
      const current = (info.config as { max_msgs_per_subject?: unknown } | undefined)?.max_msgs_per_subject;
      if (current !== config.max_msgs_per_subject)
        await this.api(`$JS.API.STREAM.UPDATE.${this.stream}`, config);
    } catch (err) {
      if (!(err instanceof JetStreamError) || err.code !== NO_STREAM) throw err;
      await this.api(`$JS.API.STREAM.CREATE.${this.stream}`, config);
    }
    this.streamReady = true;
  }

  private subject(channel: string): string {
    return this.root + hash(channel).toString('base64url');
  }

  /** The stored message in a MSG.GET reply, checked; undefined when there is none. */
  private async get(request: Record<string, unknown>): Promise<StoredMessage | undefined> {
    let reply: Record<string, unknown>;
    try {
      reply = await this.api(`$JS.API.STREAM.MSG.GET.${this.stream}`, request);
    } catch (err) {
      if (err instanceof JetStreamError && err.code === NO_MESSAGE) return undefined;
      throw err;
    }
    const message = reply.message as Record<string, unknown> | undefined;
    if (typeof message !== 'object' || message === null) throw new Error('nats history: malformed message');
    const seq = offsetOf(message.seq);
    const h = headerMap(message.hdrs);
    const offset = offsetOf(h.get('pulse-offset'));
    const epoch = h.get('pulse-epoch');
    const expires = h.get('pulse-expires');
    const expiresAt = expires === undefined || expires === '' ? undefined : offsetOf(expires);
    const data = message.data === undefined ? '' : message.data;
    if (
      seq === undefined ||
      offset === undefined ||
      !isEpoch(epoch) ||
      typeof data !== 'string' ||
      (expires !== undefined && expires !== '' && expiresAt === undefined) ||
      (message.subject !== request.last_by_subj && message.subject !== request.next_by_subj)
    ) {
      throw new Error('nats history: malformed message');
    }
    return { seq, offset, epoch, bytes: Buffer.from(data, 'base64'), expiresAt };
  }

  private async lastOf(channel: string): Promise<Last | undefined> {
    const message = await this.get({ last_by_subj: this.subject(channel) });
    if (message !== undefined) this.remember(channel, message);
    return message;
  }

  private remember(channel: string, last: Last): void {
    this.last.delete(channel);
    this.last.set(channel, { seq: last.seq, offset: last.offset, epoch: last.epoch });
    if (this.last.size > MAX_CACHED) this.last.delete(this.last.keys().next().value as string);
  }

  /** One message on the channel's subject, expecting `after` as its last; undefined on a conflict. */
  private async put(
    channel: string,
    after: Last | undefined,
    offset: number,
    epoch: string,
    entry: Buffer,
    expiresAt: number | undefined,
  ): Promise<Last | undefined> {
    const nc = this.nc;
    if (nc === undefined || !this.ready) throw new Error('nats history: not connected');
    const h = loadedNats().headers();
    h.set('Nats-Expected-Last-Subject-Sequence', String(after?.seq ?? 0));
    h.set('Pulse-Offset', String(offset));
    h.set('Pulse-Epoch', epoch);
    if (expiresAt !== undefined) h.set('Pulse-Expires', String(expiresAt));
    const msg = await nc.request(this.subject(channel), entry, { timeout: REQUEST_TIMEOUT_MS, headers: h });
    let ack: Record<string, unknown>;
    try {
      ack = apiReply(msg.data);
    } catch (err) {
      if (err instanceof JetStreamError && err.code === WRONG_LAST_SEQUENCE) return undefined;
      throw err;
    }
    const seq = offsetOf(ack.seq);
    if (ack.stream !== this.stream || seq === undefined || seq === 0)
      throw new Error('nats history: malformed ack');
    const last = { seq, offset, epoch };
    this.remember(channel, last);
    return last;
  }

  /** Runs `work`; when the stream is gone (deleted on the server), creates it again and runs it once more. */
  private async withStream<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (!streamMissing(err)) throw err;
      this.last.clear();
      await this.ensureStream();
      return work();
    }
  }

  append(
    channel: string,
    rule: HistoryRule,
    entry: Buffer,
    expiresAt: number | undefined,
    seen: StreamPosition | undefined,
  ): Promise<StreamPosition> {
    return this.withStream(() => this.appendOnce(channel, rule, entry, expiresAt, seen));
  }

  private appendOnce(
    channel: string,
    _rule: HistoryRule,
    entry: Buffer,
    expiresAt: number | undefined,
    seen: StreamPosition | undefined,
  ): Promise<StreamPosition> {
    return this.serial(channel, async () => {
      let last = this.last.get(channel) ?? (await this.lastOf(channel));
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const lost =
          last !== undefined && seen !== undefined && seen.epoch === last.epoch && last.offset < seen.offset;
        const epoch = last === undefined || lost ? newClusterEpoch() : last.epoch;
        const offset = last === undefined || lost ? 1 : last.offset + 1;
        const put = await this.put(channel, last, offset, epoch, entry, expiresAt);
        if (put !== undefined) return { offset, epoch };
        // Another node appended first: a random pause, growing, so that two nodes stop colliding.
        await new Promise((r) => setTimeout(r, Math.random() * Math.min(20, 1 + attempt)));
        last = await this.lastOf(channel);
      }
      throw new Error(`nats history: ${MAX_ATTEMPTS} conflicting appends in a row`);
    });
  }

  /** Runs `work` after the channel's earlier appends (and reads that create its epoch). */
  private serial<T>(channel: string, work: () => Promise<T>): Promise<T> {
    const before = this.queues.get(channel) ?? Promise.resolve();
    const run = before.then(work, work);
    const tail = run.catch(() => {});
    this.queues.set(channel, tail);
    void tail.then(() => {
      if (this.queues.get(channel) === tail) this.queues.delete(channel);
    });
    return run;
  }

  read(channel: string, rule: HistoryRule, query: StreamQuery): Promise<StreamRead> {
    return this.withStream(() => this.readOnce(channel, rule, query));
  }

  private async readOnce(channel: string, rule: HistoryRule, query: StreamQuery): Promise<StreamRead> {
    let last = await this.lastOf(channel);
    if (last === undefined) {
      // A marker of offset 0 holds the new epoch, so that the next append continues it.
      last = await this.serial(channel, async () => {
        const now = await this.lastOf(channel);
        if (now !== undefined) return now;
        return (
          (await this.put(channel, undefined, 0, newClusterEpoch(), Buffer.alloc(0), undefined)) ??
          this.lastOf(channel)
        );
      });
      if (last === undefined) throw new Error('nats history: the stream could not be created');
    }
    const { epoch, offset: top } = last;
    const limit = Math.max(0, Math.min(query.limit, rule.size, MAX_READ_ENTRIES));
    if (limit === 0 || top === 0) return { epoch, offset: top, entries: [] };
    const oldestKept = Math.max(1, top - rule.size + 1);
    const from =
      query.after === undefined
        ? Math.max(oldestKept, top - limit + 1)
        : Math.max(oldestKept, query.after + 1);
    const entries: StoredEntry[] = [];
    let bytes = 0;
    const subject = this.subject(channel);
    // The channel's messages in stream order (its offsets in order), from its oldest.
    let seq = 1;
    for (let steps = 0; steps <= MAX_READ_ENTRIES + rule.size && entries.length < limit; steps++) {
      const message = await this.get({ seq, next_by_subj: subject });
      if (message === undefined || message.seq < seq) break;
      seq = message.seq + 1;
      if (message.epoch !== epoch || message.offset > top) break;
      if (message.offset < from) continue;
      bytes += message.bytes.length;
      if (bytes > MAX_READ_BYTES)
        throw new Error(`nats history: a read of more than ${MAX_READ_BYTES} bytes`);
      entries.push({ offset: message.offset, bytes: message.bytes, expiresAt: message.expiresAt });
      if (message.offset === top) break;
    }
    return { epoch, offset: top, entries };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    const nc = this.nc;
    this.nc = undefined;
    await nc?.close().catch(() => {});
  }
}
