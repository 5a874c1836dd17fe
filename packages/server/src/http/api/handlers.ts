import type { IncomingMessage } from 'node:http';
import { Publication, Refusal } from '@pulse/core';
import { MAX_HISTORY_LIMIT } from '@pulse/protocol';
import { MAX_HISTORY_REPLY_BYTES } from '../../channels/history-budget.js';
import { historyPageMembers, toJson } from '../../json/json-encoding.js';
import { jsonCodeOf } from '../../json/json-messages.js';
import type { ClusterApi } from '../../cluster/cluster-api.js';
import type { ClientMatch } from '../../transport/connection.js';
import { ApiError, type ApiReply, ok } from './api-error.js';
import { readJsonBody } from './body.js';
import { type ApiContext, maxBodyBytes } from './context.js';
import type { Body, BodyName } from './schemas.js';

type Schemas = typeof import('./schemas.js');
let schemas: Promise<Schemas> | undefined;

/**
 * The request body read and checked. The schemas are imported at the first body to check:
 * zod is their library, and a server whose API is never called (it is closed by default: no
 * auth.api_keys) is ~10 MiB smaller without it (docs/ARCHITECTURE.md, "What a server loads").
 */
async function checkedBody<K extends BodyName>(
  ctx: ApiContext,
  req: IncomingMessage,
  name: K,
): Promise<Body<K>> {
  const raw = await readJsonBody(req, maxBodyBytes(ctx));
  schemas ??= import('./schemas.js');
  return (await schemas).checkBody(name, raw);
}

/** One request as the handlers see it. */
export interface ApiRequest {
  readonly req: IncomingMessage;
  readonly query: URLSearchParams;
  /** The URL-decoded `:channel` of `/api/presence/:channel` and `/api/history/:channel`. */
  readonly channel: string;
}

export type ApiHandler = (ctx: ApiContext, request: ApiRequest) => Promise<ApiReply> | ApiReply;

const refused = (refusal: Refusal): ApiError => new ApiError(jsonCodeOf(refusal.code), refusal.message);

/** `data` is published as its compact JSON text, UTF-8 (docs/PROTOCOL.md, "Payloads across protocols"). */
function payloadOf(ctx: ApiContext, data: unknown): Buffer {
  const payload = Buffer.from(JSON.stringify(data), 'utf8');
  if (payload.length > ctx.maxMessageSize) {
    throw new ApiError(
      413,
      `"data" is ${payload.length} bytes as JSON text, over limits.max_message_size (${ctx.maxMessageSize})`,
    );
  }
  return payload;
}

function publishTo(
  ctx: ApiContext,
  channel: string,
  payload: Buffer,
  event: string | undefined,
): number | Refusal | Promise<number | Refusal> {
  return ctx.channels.publish(new Publication({ channel, payload, event }));
}

/** `POST /api/publish {channel, data, event?}` → `{ok, delivered}`. */
export const publish: ApiHandler = async (ctx, { req }) => {
  const body = await checkedBody(ctx, req, 'publish');
  const payload = payloadOf(ctx, body.data);
  const delivered = await publishTo(ctx, body.channel, payload, body.event);
  if (delivered instanceof Refusal) throw refused(delivered);
  ctx.channels.commitBeforeAnswer();
  return ok(JSON.stringify({ ok: true, delivered }));
};

/** `POST /api/broadcast {channels, data, event?}` → `{ok, delivered, results}`, one result per channel. */
export const broadcast: ApiHandler = async (ctx, { req }) => {
  const body = await checkedBody(ctx, req, 'broadcast');
  const payload = payloadOf(ctx, body.data);
  let total = 0;
  // Started together, in order (a history channel's publication waits for the engine).
  const outcomes = await Promise.all(
    body.channels.map((channel) => publishTo(ctx, channel, payload, body.event)),
  );
  const results = body.channels.map((channel, i) => {
    const delivered = outcomes[i] as number | Refusal;
    if (delivered instanceof Refusal) {
      return { channel, error: { code: jsonCodeOf(delivered.code), message: delivered.message } };
    }
    total += delivered;
    return { channel, delivered };
  });
  ctx.channels.commitBeforeAnswer();
  return ok(JSON.stringify({ ok: true, delivered: total, results }));
};

/**
 * `GET /api/channels[?prefix=]` → `{channels: [{name, subscribers}], wildcards: [{filter, subscribers}]}`:
 * the channels with subscribers of their own, and apart from them the wildcard filters held.
 * Clustered: those of every node, counts summed, with `nodes` (how many answered) and
 * `unanswered` / `truncated` when some were left out (docs/CLUSTER.md).
 */
export const channels: ApiHandler = (ctx, { query }) => {
  const prefix = query.get('prefix') ?? '';
  if (ctx.cluster !== undefined) return clusterChannels(ctx.cluster, prefix);
  const listing = ctx.broker.channelListing();
  const pick = (entries: Iterable<[string, number]>) =>
    [...entries].filter(([name]) => name.startsWith(prefix)).sort(byName);
  return ok(
    JSON.stringify({
      ok: true,
      channels: pick(listing.channels).map(([name, subscribers]) => ({ name, subscribers })),
      wildcards: pick(listing.wildcards).map(([filter, subscribers]) => ({ filter, subscribers })),
    }),
  );
};

const byName = (a: [string, number], b: [string, number]) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

async function clusterChannels(cluster: ClusterApi, prefix: string): Promise<ApiReply> {
  if (cluster.busy) throw new ApiError(503, 'too many cluster-wide requests waiting for the other nodes');
  const listing = await cluster.listChannels(prefix);
  return ok(
    JSON.stringify({
      ok: true,
      channels: [...listing.channels].sort(byName).map(([name, subscribers]) => ({ name, subscribers })),
      wildcards: [...listing.wildcards]
        .sort(byName)
        .map(([filter, subscribers]) => ({ filter, subscribers })),
      nodes: listing.nodes,
      ...(listing.unanswered > 0 ? { unanswered: listing.unanswered } : {}),
      ...(listing.truncated ? { truncated: true } : {}),
    }),
  );
}

/** Presence data one `GET /api/presence/:channel` answer holds at most. */
const MAX_PRESENCE_REPLY_BYTES = 8 * 1024 * 1024;

/**
 * `GET /api/presence/:channel` → `{channel, presence: {connection_id: data}}` (empty when nobody is
 * present), with `truncated: true` when the members' data passed MAX_PRESENCE_REPLY_BYTES.
 */
export const presence: ApiHandler = (ctx, { channel }) => {
  const sync = ctx.channels.presenceSync(channel, MAX_PRESENCE_REPLY_BYTES);
  if (sync instanceof Refusal) throw refused(sync);
  const more = sync.truncated ? ',"truncated":true' : '';
  return ok(`{"ok":true,"channel":${JSON.stringify(channel)},"presence":${toJson(sync.members)}${more}}`);
};

/** A query parameter that must be an integer in [min, max], or absent. */
function intParam(query: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const text = query.get(name);
  if (text === null) return undefined;
  const value = /^-?\d{1,16}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ApiError(400, `query parameter "${name}" must be an integer from ${min} to ${max}`);
  }
  return value;
}

/**
 * `GET /api/history/:channel[?since_offset=&epoch=][&limit=]` → `{publications: [{offset, data, event?}],
 * offset, epoch}`: without a position the newest `limit`, with one the oldest `limit` after it
 * (paging forward). 404 when the channel keeps no history.
 */
export const history: ApiHandler = async (ctx, { channel, query }) => {
  const sinceOffset = intParam(query, 'since_offset', 0, Number.MAX_SAFE_INTEGER);
  const epoch = query.get('epoch') ?? undefined;
  if ((sinceOffset === undefined) !== (epoch === undefined)) {
    throw new ApiError(400, 'query parameters "since_offset" and "epoch" go together');
  }
  const since = sinceOffset === undefined ? undefined : { offset: sinceOffset, epoch: epoch as string };
  const limit = intParam(query, 'limit', 1, MAX_HISTORY_LIMIT);
  // As the JSON protocol: a malformed name is 400; a reserved `$` channel keeps no history (404).
  const page = await ctx.channels.readHistory(channel, since, limit);
  if (page instanceof Refusal) throw refused(page);
  if (page === undefined) throw new ApiError(404, `channel ${channel} keeps no history`);
  return ok(`{"ok":true,${historyPageMembers(page, since !== undefined, MAX_HISTORY_REPLY_BYTES)}}`);
};

/** `POST /api/disconnect {connection_id | client_id | user}` → `{ok, disconnected}`. */
export const disconnect: ApiHandler = async (ctx, { req }) => {
  const body = await checkedBody(ctx, req, 'disconnect');
  const given = [body.connection_id, body.client_id, body.user].filter((v) => v !== undefined).length;
  if (given !== 1) {
    throw new ApiError(400, 'request body must name exactly one of "connection_id", "client_id" or "user"');
  }
  const match: ClientMatch =
    body.connection_id !== undefined
      ? { connectionId: body.connection_id }
      : body.client_id !== undefined
        ? { clientId: body.client_id }
        : { user: body.user };
  const reason = 'disconnected by the server API';
  if (ctx.cluster === undefined) {
    return ok(JSON.stringify({ ok: true, disconnected: ctx.disconnectClients(match, reason) }));
  }
  if (ctx.cluster.busy) throw new ApiError(503, 'too many cluster-wide requests waiting for the other nodes');
  const { disconnected, nodes, unanswered } = await ctx.cluster.disconnect(match, reason);
  return ok(JSON.stringify({ ok: true, disconnected, nodes, ...(unanswered > 0 ? { unanswered } : {}) }));
};
