/**
 * Cluster history on Redis (Centrifugo's model): per channel a meta hash (`e` epoch, `o` the
 * newest offset) and a stream whose entry IDs are `<offset>-0`, both under the cluster prefix
 * (`P:m:<channel>`, `P:h:<channel>`; `P` as in redis-channels.ts). One Lua script per append
 * creates the epoch when missing (or when the stream went back below what this node has seen),
 * increments the offset and XADDs with an exact MAXLEN of the rule's size, atomically: two
 * nodes never get one offset. Reads are one script too, so the position and the entries are one
 * snapshot. Both keys expire KEY_TTL_MS after the last append; a stream that expired (or was
 * flushed, or lost in a restart) gets a new epoch, so positions of the old one recover nothing.
 *
 * Its own ioredis connection (ioredis reconnecting, no offline queue: a command while
 * disconnected fails at once), on the first URL: Lua needs both keys on one server, so Redis
 * Cluster is not supported for history. Replies are checked (types, counts, sizes); a server
 * that sends more than MAX_UNPARSED_BYTES without completing a reply loses the connection.
 */
import type { HistoryRule, StreamPosition } from '@pulse/core';
import { loadIoredis } from './engine-drivers.js';
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
import type { EngineOptions } from './cluster-engine.js';
import { RedisChannels } from './redis-channels.js';

/** How long a stream and its meta outlive their last append. */
export const KEY_TTL_MS = 30 * 24 * 3600 * 1000;
/** A command not answered within this fails (a server that stopped answering on an open connection: SIGSTOP, a hung host). */
export const COMMAND_TIMEOUT_MS = 5000;
/** Bytes received without a whole reply before the connection is dropped: a read's worth of large entries. */
export const MAX_UNPARSED_BYTES = 64 * 1024 * 1024;

// Keys another writer made unusable (another type, an offset that is not one, an epoch no
// node would make, entries past the offset: XADD would fail after HINCRBY, on every append)
// start a new epoch instead of refusing every publication until they expire.
const APPEND = `
local function usable(key, want)
  local t = redis.call('TYPE', key)['ok']
  if t ~= want and t ~= 'none' then redis.call('DEL', key) end
end
usable(KEYS[1], 'hash')
usable(KEYS[2], 'stream')
local epoch = redis.call('HGET', KEYS[1], 'e')
local o = redis.call('HGET', KEYS[1], 'o') or ''
local top = 0
if epoch and (#epoch > 64 or not string.match(epoch, '^[!-~]+$') or #o > 15 or not string.match(o, '^%d+$')) then
  epoch = false
end
if epoch then top = tonumber(o) end
if epoch and epoch == ARGV[6] and top < tonumber(ARGV[7]) then epoch = false end
if epoch then
  local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)[1]
  local newest = last and tonumber(string.match(last[1], '^(%d+)%-'))
  if last and (newest == nil or newest > top) then epoch = false end
end
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'e', epoch, 'o', 0)
end
local offset = redis.call('HINCRBY', KEYS[1], 'o', 1)
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[3], offset .. '-0', 'd', ARGV[2], 'x', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return {epoch, offset}
`;

const READ = `
local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'e', epoch, 'o', 0)
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
end
local top = redis.call('HGET', KEYS[1], 'o') or '0'
local entries = {}
if tonumber(ARGV[4]) > 0 then
  if ARGV[2] == 'after' then
    entries = redis.call('XRANGE', KEYS[2], ARGV[3], '+', 'COUNT', ARGV[4])
  else
    entries = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', ARGV[4])
  end
end
return {epoch, top, entries}
`;

type Scripted = import('ioredis').Redis & {
  pulseAppendBuffer(...args: (string | Buffer | number)[]): Promise<unknown>;
  pulseReadBuffer(...args: (string | Buffer | number)[]): Promise<unknown>;
};

const text = (v: unknown) => (Buffer.isBuffer(v) ? v.toString('latin1') : v);

/** One entry of XRANGE: `[id, [field, value, …]]`, id `<offset>-0`, fields `d` and `x`. */
function entryOf(raw: unknown): StoredEntry | undefined {
  if (!Array.isArray(raw) || raw.length !== 2 || !Array.isArray(raw[1])) return undefined;
  const id = text(raw[0]);
  if (typeof id !== 'string' || !id.endsWith('-0')) return undefined;
  const offset = offsetOf(id.slice(0, -2));
  if (offset === undefined || offset === 0) return undefined;
  const fields = raw[1] as unknown[];
  let bytes: Buffer | undefined;
  let expiresAt: number | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = text(fields[i]);
    const value = fields[i + 1];
    if (name === 'd' && Buffer.isBuffer(value)) bytes = value;
    else if (name === 'x') {
      const x = text(value);
      if (x !== '') {
        expiresAt = offsetOf(x);
        if (expiresAt === undefined) return undefined;
      }
    }
  }
  return bytes === undefined ? undefined : { offset, bytes, expiresAt };
}

export class RedisHistory implements ClusterHistory {
  readonly kind = 'redis';
  /** Made by `start` (the driver is loaded then). */
  private redisClient: Scripted | undefined;
  private readonly root: string;
  private readonly url: string;
  private unparsed = 0;
  private closed = false;

  constructor(private readonly options: EngineOptions) {
    const url = options.urls[0];
    if (url === undefined) throw new Error('redis history: no URL');
    this.url = url;
    this.root = new RedisChannels(options.prefix).root.slice(0, -'p:'.length);
  }

  private get redis(): Scripted {
    if (this.redisClient === undefined) throw new Error('redis history: not started');
    return this.redisClient;
  }

  private async open(): Promise<Scripted> {
    const { Redis } = await loadIoredis();
    const redis = new Redis(this.url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (times) => Math.min(250 * times, 1000),
      connectTimeout: 5000,
      commandTimeout: COMMAND_TIMEOUT_MS,
      connectionName: `pulse:${this.options.nodeName}:history`.replace(/[^\x21-\x7e]/g, '_'),
      disableClientInfo: true,
    }) as Scripted;
    redis.defineCommand('pulseAppend', { numberOfKeys: 2, lua: APPEND });
    redis.defineCommand('pulseRead', { numberOfKeys: 2, lua: READ });
    redis.on('error', () => {
      // The state says it; each command's own rejection carries its reason.
    });
    redis.on('connect', () => {
      this.unparsed = 0;
      redis.stream.on('data', (chunk: Buffer) => {
        this.unparsed += chunk.length;
        if (this.unparsed > MAX_UNPARSED_BYTES) redis.stream.destroy();
      });
    });
    return redis;
  }

  get ready(): boolean {
    return !this.closed && this.redisClient?.status === 'ready';
  }

  async start(): Promise<void> {
    const redis = await this.open();
    if (this.closed) return;
    this.redisClient = redis;
    // ioredis keeps reconnecting after a failed first attempt (retryStrategy).
    await redis.connect().catch(() => {});
  }

  private keys(channel: string): [string, string] {
    return [`${this.root}m:${channel}`, `${this.root}h:${channel}`];
  }

  private replied<T>(reply: T): T {
    this.unparsed = 0;
    return reply;
  }

  async append(
    channel: string,
    rule: HistoryRule,
    entry: Buffer,
    expiresAt: number | undefined,
    seen: StreamPosition | undefined,
  ): Promise<StreamPosition> {
    const [meta, stream] = this.keys(channel);
    const reply = this.replied(
      await this.redis.pulseAppendBuffer(
        meta,
        stream,
        newClusterEpoch(),
        entry,
        Math.max(1, rule.size),
        expiresAt === undefined ? '' : String(expiresAt),
        KEY_TTL_MS,
        seen?.epoch ?? '',
        seen?.offset ?? 0,
      ),
    );
    if (!Array.isArray(reply) || reply.length !== 2) throw new Error('redis history: malformed append reply');
    const epoch = text(reply[0]);
    const offset = offsetOf(reply[1]);
    if (!isEpoch(epoch) || offset === undefined || offset === 0) {
      throw new Error('redis history: malformed append reply');
    }
    return { offset, epoch };
  }

  async read(channel: string, rule: HistoryRule, query: StreamQuery): Promise<StreamRead> {
    const [meta, stream] = this.keys(channel);
    const count = Math.max(0, Math.min(query.limit, rule.size, MAX_READ_ENTRIES));
    const after = query.after;
    const reply = this.replied(
      await this.redis.pulseReadBuffer(
        meta,
        stream,
        newClusterEpoch(),
        after === undefined ? 'newest' : 'after',
        after === undefined ? '-' : `${after + 1}-0`,
        count,
        KEY_TTL_MS,
      ),
    );
    if (!Array.isArray(reply) || reply.length !== 3 || !Array.isArray(reply[2])) {
      throw new Error('redis history: malformed read reply');
    }
    const epoch = text(reply[0]);
    const offset = offsetOf(text(reply[1]));
    const raw = reply[2] as unknown[];
    if (!isEpoch(epoch) || offset === undefined || raw.length > count) {
      throw new Error('redis history: malformed read reply');
    }
    const entries: StoredEntry[] = [];
    for (const item of raw) {
      const entry = entryOf(item);
      if (entry === undefined || entry.offset > offset) throw new Error('redis history: malformed entry');
      entries.push(entry);
    }
    if (after === undefined) entries.reverse();
    for (let i = 1; i < entries.length; i++) {
      if ((entries[i] as StoredEntry).offset <= (entries[i - 1] as StoredEntry).offset) {
        throw new Error('redis history: entries out of order');
      }
    }
    return { epoch, offset, entries };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.redisClient?.disconnect();
    this.redisClient?.stream?.destroy();
  }
}
