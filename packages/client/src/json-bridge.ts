import { FrameSplitter, encodeFrame } from './framing.js';
import { disconnectCodeOf, nativeCodeOf } from './json-errors.js';
import { payloadOf, publishData } from './json-payload.js';
import { elementSpans, memberSpans, spanAt } from './json-raw.js';

type Fields = Record<string, unknown>;

/** What the reply to one JSON request becomes for the client. */
type Then =
  | { kind: 'connected' }
  | { kind: 'ack'; id: number }
  | { kind: 'sync'; id: number; channel: unknown }
  | { kind: 'history'; id: number }
  | { kind: 'pong'; timestamp: unknown }
  /** A publish without ack, the answer to a server ping: only an error is worth telling. */
  | { kind: 'none' };

/** Native presence actions (join, leave, update, sync) as JSON methods. */
const PRESENCE_METHODS = ['presence_join', 'presence_leave', 'presence_update', 'presence'] as const;
const PUSH_ACTIONS: Record<string, number> = { join: 0, leave: 1, update: 2 };

const isObject = (v: unknown): v is Fields => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The frame without its undefined members. */
function frame(fields: Fields): Fields {
  const out: Fields = {};
  for (const [key, value] of Object.entries(fields)) if (value !== undefined) out[key] = value;
  return out;
}

/**
 * Speaks the JSON protocol (docs/PROTOCOL.md, "JSON protocol") for a client that speaks native
 * frames: each frame the client sends becomes a JSON request, each reply and push the native
 * frame the native server would have sent (ack, error, publish, presence, ping, connected), so
 * that PulseClient runs unchanged over it. Throws on a server message it cannot read.
 */
export class JsonBridge {
  private nextId = 1;
  private readonly waiting = new Map<number, Then>();
  private readonly splitter = new FrameSplitter();
  private connectSent = false;

  constructor(
    private readonly sendText: (text: string) => void,
    /** Native frame bytes for the client. */
    private readonly deliver: (bytes: Uint8Array) => void,
  ) {}

  /**
   * Without a token the client sends no `connect` and waits for the native server's own
   * `connected`; over JSON only a `connect` result gives the connection id and heartbeat.
   */
  ensureConnect(): void {
    if (!this.connectSent) this.request('connect', {}, { kind: 'connected' });
  }

  /** Bytes of native frames from the client. */
  fromClient(bytes: Uint8Array): void {
    this.splitter.push(bytes, (f) => this.translate(f));
  }

  private translate(f: Fields): void {
    const id = typeof f.id === 'number' ? f.id : 0;
    const ack: Then = id ? { kind: 'ack', id } : { kind: 'none' };
    switch (f.type) {
      case 'connect':
        this.connectSent = true;
        return this.request('connect', { token: f.token }, { kind: 'connected' });
      case 'subscribe':
        return this.request('subscribe', { channel: f.channel, recover: f.recover }, ack);
      case 'unsubscribe':
        return this.request('unsubscribe', { channel: f.channel }, ack);
      case 'publish': {
        const payload = f.payload instanceof Uint8Array ? f.payload : new Uint8Array(0);
        return this.request('publish', { channel: f.channel, ...publishData(payload), event: f.event }, ack);
      }
      case 'presence': {
        const method = PRESENCE_METHODS[f.action as number];
        if (method === undefined) break;
        if (method === 'presence') {
          const then: Then = id ? { kind: 'sync', id, channel: f.channel } : { kind: 'none' };
          return this.request(method, { channel: f.channel }, then);
        }
        if (method === 'presence_leave') return this.request(method, { channel: f.channel }, ack);
        // JSON requires data on an update; none is the empty object, as a sync shows it.
        const data = method === 'presence_update' ? (f.data ?? {}) : f.data;
        return this.request(method, { channel: f.channel, data }, ack);
      }
      case 'history': {
        const then: Then = id ? { kind: 'history', id } : { kind: 'none' };
        return this.request('history', { channel: f.channel, since: f.since, limit: f.limit }, then);
      }
      case 'ping':
        return this.request('ping', undefined, { kind: 'pong', timestamp: f.timestamp });
      case 'pong':
        // The answer to the server's ping push: any request will do.
        return this.request('ping', undefined, { kind: 'none' });
    }
    this.toClient({
      type: 'error',
      id,
      code: 1001,
      message: `no ${String(f.type)} request in the JSON protocol`,
    });
  }

  private request(method: string, params: Fields | undefined, then: Then): void {
    const id = this.nextId++;
    this.waiting.set(id, then);
    // JSON.stringify leaves out undefined members.
    this.sendText(JSON.stringify(params === undefined ? { id, method } : { id, method, params }));
  }

  private toClient(fields: Fields): void {
    this.deliver(encodeFrame(frame(fields)));
  }

  /** One text message from the server. */
  fromServer(text: string): void {
    const message: unknown = JSON.parse(text);
    if (!isObject(message)) throw new Error('a JSON message that is not an object');
    if ('id' in message) this.reply(message, text);
    else this.push(message, text);
  }

  private reply(m: Fields, text: string): void {
    const then = typeof m.id === 'number' ? this.waiting.get(m.id) : undefined;
    if (then !== undefined) this.waiting.delete(m.id as number);
    if (isObject(m.error)) {
      const message = String(m.error.message);
      const code = nativeCodeOf(Number(m.error.code), message);
      const id = then !== undefined && 'id' in then ? then.id : 0;
      return this.toClient({ type: 'error', id, code, message });
    }
    if (then === undefined) return; // not ours (nothing else sends on this socket)
    const result = isObject(m.result) ? m.result : {};
    switch (then.kind) {
      case 'connected':
        if (typeof result.client !== 'string') throw new Error('a connect result without client');
        return this.toClient({
          type: 'connected',
          connection_id: result.client,
          version: result.version,
          heartbeat: result.heartbeat,
        });
      case 'ack':
        return this.toClient({ ...result, type: 'ack', id: then.id });
      case 'sync':
        return this.toClient({
          type: 'presence',
          id: then.id,
          channel: then.channel,
          action: 3,
          data: result.presence,
          truncated: result.truncated,
        });
      case 'history':
        return this.toClient({
          type: 'ack',
          id: then.id,
          publications: historyPublications(result, text),
          offset: result.offset,
          epoch: result.epoch,
        });
      case 'pong':
        return this.toClient({ type: 'pong', timestamp: then.timestamp });
      case 'none':
        return;
    }
  }

  private push(m: Fields, text: string): void {
    const params = isObject(m.params) ? m.params : {};
    switch (m.method) {
      case 'publication': {
        if (typeof params.channel !== 'string') throw new Error('a publication without channel');
        return this.toClient({
          type: 'publish',
          channel: params.channel,
          payload: payloadOf(params.data, params.encoding, () => raw(text, spanAt(text, ['params', 'data']))),
          event: params.event,
          offset: params.offset,
          epoch: params.epoch,
        });
      }
      case 'join':
      case 'leave':
      case 'update':
        return this.toClient({
          type: 'presence',
          channel: params.channel,
          action: PUSH_ACTIONS[m.method],
          connection_id: params.connection_id,
          user: params.user,
          data: params.data,
        });
      case 'ping':
        return this.toClient({ type: 'ping' });
      case 'disconnect': {
        const reason = String(params.reason);
        return this.toClient({ type: 'error', id: 0, code: disconnectCodeOf(reason), message: reason });
      }
    }
    // A push this client does not know (a newer server's): nothing to tell.
  }
}

function raw(text: string, span: readonly [number, number] | undefined): string {
  if (span === undefined) throw new Error('a publication without data');
  return text.slice(span[0], span[1]);
}

/** A history result's entries as native ones, each payload exact (see payloadOf). */
function historyPublications(result: Fields, text: string): Fields[] {
  const list = Array.isArray(result.publications) ? (result.publications as unknown[]) : [];
  const spans = list.length ? elementSpans(text, spanAt(text, ['result', 'publications']) ?? [0, 0]) : [];
  return list.map((entry, i) => {
    const e = isObject(entry) ? entry : {};
    const span = spans[i];
    const data = () => raw(text, span === undefined ? undefined : memberSpans(text, span).get('data'));
    return frame({ offset: e.offset, event: e.event, payload: payloadOf(e.data, e.encoding, data) });
  });
}
