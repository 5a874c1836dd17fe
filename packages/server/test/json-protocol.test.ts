import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { Publication as NativePublication, PresenceEvent } from '@pulse/client';
import { Broker } from '@pulse/core';
import { type Frame, FrameError, decodeFrame, encodeFrame } from '@pulse/protocol';
import mqtt from 'mqtt';
import { pino } from 'pino';
import WebSocket from 'ws';
import type { JsonAuth } from '../src/json/json-auth.js';
import { ChannelOperations } from '../src/channels/channel-operations.js';
import { JsonSession } from '../src/json/json-session.js';
import { JsonStats } from '../src/json/json-stats.js';
import type { FlushScheduler } from '../src/transport/flush-scheduler.js';
import type { WsConnection } from '../src/transport/ws-connection.js';
import {
  type Harness,
  Inbox,
  freePort,
  metricValue,
  scrape,
  sleep,
  startServer,
  tcpClient,
  wsClient,
} from './helpers.js';
import { seededRandom } from './seeded-random.js';

// biome-ignore lint/suspicious/noExplicitAny: JSON replies are checked field by field
type Json = any;

/** A raw `ws` client speaking the JSON protocol (and, when asked, native frames on the same socket). */
class JsonWs {
  /** Every text message, parsed, in order. */
  readonly texts = new Inbox<Json>();
  /** Every text message as received. */
  readonly rawTexts: string[] = [];
  /** Pushes (messages without `id`). */
  readonly pushes = new Inbox<Json>();
  /** Binary messages decoded as native frames. */
  readonly frames = new Inbox<Frame>();
  readonly closed: Promise<number>;
  private nextId = 1;
  private readonly waiting = new Map<unknown, (reply: Json) => void>();

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) {
        const frame = decodeFrame(data.subarray(4));
        if (frame instanceof FrameError) throw new Error(frame.message);
        this.frames.push(frame);
        return;
      }
      this.rawTexts.push(data.toString('utf8'));
      const message = JSON.parse(data.toString('utf8'));
      this.texts.push(message);
      if (!('id' in message)) return this.pushes.push(message);
      const resolve = this.waiting.get(message.id);
      if (resolve) {
        this.waiting.delete(message.id);
        resolve(message);
      }
    });
    this.closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));
  }

  static async open(url: string): Promise<JsonWs> {
    const ws = new WebSocket(url);
    const client = new JsonWs(ws);
    await once(ws, 'open');
    return client;
  }

  /** Sends a request and resolves with the whole reply `{id, result}` or `{id, error}`. */
  call(method: string, params?: unknown): Promise<Json> {
    const id = this.nextId++;
    return this.send({ id, method, params });
  }

  /** The `result` of a request; rejects with the error object otherwise. */
  async ok(method: string, params?: unknown): Promise<Json> {
    const reply = await this.call(method, params);
    if (reply.error) throw Object.assign(new Error(reply.error.message), reply.error);
    return reply.result;
  }

  /** The error `code` of a request that must fail. */
  async code(method: string, params?: unknown): Promise<number> {
    const reply = await this.call(method, params);
    assert.ok(reply.error, `${method} ${JSON.stringify(params)} should fail, got ${JSON.stringify(reply)}`);
    return reply.error.code;
  }

  send(request: { id: unknown; [key: string]: unknown }): Promise<Json> {
    const reply = new Promise<Json>((resolve) => this.waiting.set(request.id, resolve));
    this.ws.send(JSON.stringify(request));
    return reply;
  }

  /** Sends raw text and resolves with the next text message. */
  async raw(text: string | Buffer): Promise<Json> {
    const n = this.texts.items.length;
    this.ws.send(text, { binary: false });
    return (await this.texts.waitFor(n + 1))[n];
  }

  sendFrame(frame: object): void {
    this.ws.send(encodeFrame(frame as Frame));
  }

  publications(channel?: string): Json[] {
    return this.pushes.items.filter(
      (p) => p.method === 'publication' && (channel === undefined || p.params.channel === channel),
    );
  }

  async waitPublications(channel: string, n: number, timeoutMs = 5000): Promise<Json[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.publications(channel).length < n) {
      if (Date.now() > deadline) {
        throw new Error(
          `timed out waiting for ${n} publications on ${channel}, got ${this.publications(channel).length}`,
        );
      }
      await sleep(5);
    }
    return this.publications(channel);
  }

  close(): void {
    this.ws.close();
  }
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

const HISTORY = [
  { pattern: 'chat:*', size: 10_000, ttl_ms: 0 },
  { pattern: 'small/#', size: 5, ttl_ms: 0 },
];

let h: Harness;
before(async () => {
  h = await startServer({ history: HISTORY });
});
after(() => h.stop());

describe('JSON protocol: methods', () => {
  test('connect: connected, the socket connection id, version and heartbeat; the token is ignored for now', async () => {
    const c = await JsonWs.open(h.wsUrl);
    const connected = (await c.frames.waitFor(1))[0] as Frame & { type: 'connected' };
    const result = await c.ok('connect', { token: 'anything' });
    assert.deepEqual(result, {
      connected: true,
      client: connected.connection_id,
      version: 1,
      heartbeat: 30_000,
    });
    assert.deepEqual(await c.ok('connect'), result, 'connect is optional and may be repeated');
    assert.equal(await c.code('connect', { token: 42 }), 400);
    c.close();
  });

  test('ping replies {} (string ids are echoed too)', async () => {
    const c = await JsonWs.open(h.wsUrl);
    assert.deepEqual(await c.call('ping'), { id: 1, result: {} });
    assert.deepEqual(await c.send({ id: 'abc', method: 'ping', params: {} }), {
      id: 'abc',
      result: {},
    });
    c.close();
  });

  test('subscribe, publish, unsubscribe: pushes carry the channel and the JSON data', async () => {
    const sub = await JsonWs.open(h.wsUrl);
    const pub = await JsonWs.open(h.wsUrl);
    assert.deepEqual(await sub.ok('subscribe', { channel: 'room:1' }), {});
    const values = [{ a: 1, b: [true, null, 'x'] }, 'text', 42, null, [1, 2], '12345678901234567890'];
    for (const data of values) assert.deepEqual(await pub.ok('publish', { channel: 'room:1', data }), {});
    const got = await sub.waitPublications('room:1', values.length);
    assert.deepEqual(
      got.map((p) => p.params),
      values.map((data) => ({ channel: 'room:1', data })),
    );
    assert.deepEqual(got[0], { method: 'publication', params: { channel: 'room:1', data: values[0] } });
    // event, and the publisher's own publication when subscribed
    await pub.ok('subscribe', { channel: 'room:1' });
    await pub.ok('publish', { channel: 'room:1', data: { n: 1 }, event: 'update' });
    const [mine] = await pub.waitPublications('room:1', 1);
    assert.deepEqual(mine.params, { channel: 'room:1', data: { n: 1 }, event: 'update' });
    assert.deepEqual(await sub.ok('unsubscribe', { channel: 'room:1' }), {});
    await pub.ok('publish', { channel: 'room:1', data: 'after' });
    await pub.waitPublications('room:1', 2);
    await sleep(20);
    assert.equal(sub.publications('room:1').length, values.length + 1, 'nothing after unsubscribe');
    sub.close();
    pub.close();
  });

  test('wildcards: + and # filters, each publication once, with its concrete channel', async () => {
    const sub = await JsonWs.open(h.wsUrl);
    await sub.ok('subscribe', { channel: 'sensors/+/temp' });
    await sub.ok('subscribe', { channel: 'sensors/#' });
    await sub.ok('publish', { channel: 'sensors/kitchen/temp', data: 21.5 });
    await sub.ok('publish', { channel: 'sensors/hall', data: 1 });
    const got = await sub.waitPublications('sensors/hall', 1);
    await sleep(20);
    assert.deepEqual(
      sub.publications().map((p) => [p.params.channel, p.params.data]),
      [
        ['sensors/kitchen/temp', 21.5],
        ['sensors/hall', 1],
      ],
    );
    assert.equal(got.length, 1);
    sub.close();
  });

  test('presence: join/update/leave pushes, the presence snapshot, leave on disconnect', async () => {
    const watcher = await JsonWs.open(h.wsUrl);
    const member = await JsonWs.open(h.wsUrl);
    const { client: memberId } = await member.ok('connect');
    await watcher.ok('subscribe', { channel: 'lobby' });
    assert.deepEqual(await member.ok('presence_join', { channel: 'lobby', data: { name: 'ann' } }), {});
    assert.deepEqual(await watcher.ok('presence', { channel: 'lobby' }), {
      presence: { [memberId]: { name: 'ann' } },
    });
    assert.deepEqual(
      await member.ok('presence_update', { channel: 'lobby', data: { name: 'ann', away: true } }),
      {},
    );
    assert.deepEqual(await member.ok('presence_leave', { channel: 'lobby' }), {});
    assert.equal(await member.code('presence_leave', { channel: 'lobby' }), 400, 'not present');
    assert.equal(await member.code('presence_update', { channel: 'lobby', data: {} }), 400, 'not present');
    await member.ok('presence_join', { channel: 'lobby' });
    member.close();
    const pushes = await watcher.pushes.waitFor(5);
    assert.deepEqual(pushes, [
      { method: 'join', params: { channel: 'lobby', connection_id: memberId, data: { name: 'ann' } } },
      {
        method: 'update',
        params: { channel: 'lobby', connection_id: memberId, data: { name: 'ann', away: true } },
      },
      {
        method: 'leave',
        params: { channel: 'lobby', connection_id: memberId, data: { name: 'ann', away: true } },
      },
      { method: 'join', params: { channel: 'lobby', connection_id: memberId } },
      { method: 'leave', params: { channel: 'lobby', connection_id: memberId } },
    ]);
    assert.deepEqual(await watcher.ok('presence', { channel: 'lobby' }), { presence: {} });
    assert.equal(await watcher.code('presence', { channel: 'a/+' }), 400);
    assert.equal(await watcher.code('presence_join', { channel: '$SYS/x' }), 403);
    assert.equal(await watcher.code('presence_join', { channel: 'lobby', data: [1] }), 400);
    assert.equal(await watcher.code('presence_update', { channel: 'lobby' }), 400, 'data is required');
    watcher.close();
  });
});

describe('JSON protocol: errors', () => {
  test('400 for what is not a request; the id is echoed when it can be read, else null', async () => {
    const c = await JsonWs.open(h.wsUrl);
    const cases: [string, unknown][] = [
      ['not json', null],
      ['', null],
      ['[1,2]', null],
      ['"ping"', null],
      ['null', null],
      ['{"method":"ping"}', null],
      ['{"id":-1,"method":"ping"}', null],
      ['{"id":1.5,"method":"ping"}', null],
      ['{"id":{},"method":"ping"}', null],
      [`{"id":"${'x'.repeat(65)}","method":"ping"}`, null],
      ['{"id":7}', 7],
      ['{"id":7,"method":3}', 7],
      ['{"id":7,"method":"ping","params":[]}', 7],
      ['{"id":7,"method":"ping","params":"x"}', 7],
      ['{"id":8,"method":"subscribe","params":{}}', 8],
      ['{"id":8,"method":"subscribe","params":{"channel":5}}', 8],
      ['{"id":8,"method":"subscribe","params":{"channel":"a","recover":{"offset":"1","epoch":"e"}}}', 8],
      ['{"id":8,"method":"subscribe","params":{"channel":"a","recover":{"offset":-1,"epoch":"e"}}}', 8],
      ['{"id":8,"method":"subscribe","params":{"channel":"a","recover":5}}', 8],
      ['{"id":9,"method":"publish","params":{"channel":"a"}}', 9],
      ['{"id":9,"method":"publish","params":{"channel":"a","data":1,"event":5}}', 9],
      ['{"id":9,"method":"publish","params":{"channel":"","data":1}}', 9],
      ['{"id":9,"method":"publish","params":{"channel":"a/+","data":1}}', 9],
      ['{"id":9,"method":"publish","params":{"channel":"é","data":1}}', 9],
      ['{"id":9,"method":"publish","params":{"channel":"a","data":"AAEC","encoding":"hex"}}', 9],
      ['{"id":9,"method":"publish","params":{"channel":"a","data":[1],"encoding":"base64"}}', 9],
      ['{"id":9,"method":"publish","params":{"channel":"a","data":"AAE","encoding":"base64"}}', 9],
      ['{"id":9,"method":"publish","params":{"channel":"a","data":"A A=","encoding":"base64"}}', 9],
      ['{"id":10,"method":"history","params":{"channel":"chat:x","limit":0}}', 10],
      ['{"id":10,"method":"history","params":{"channel":"chat:x","limit":1001}}', 10],
      ['{"id":10,"method":"history","params":{"channel":"chat:x","limit":"5"}}', 10],
      ['{"id":10,"method":"history","params":{"channel":"chat:x","since":[]}}', 10],
      ['{"id":10,"method":"history","params":{"channel":"small/+"}}', 10],
      ['{"id":11,"method":"subscribe","params":{"channel":"a/#/b"}}', 11],
      ['{"id":11,"method":"subscribe","params":{"channel":"$foo"}}', 11],
      ['{"id":12,"method":"unsubscribe","params":{"channel":"never"}}', 12],
      [`{"id":13,"method":"ping","params":{"deep":${'['.repeat(100)}${']'.repeat(100)}}}`, null],
    ];
    for (const [text, id] of cases) {
      const reply = await c.raw(text);
      assert.equal(reply.id, id, text);
      assert.equal(reply.error?.code, 400, `${text}: ${JSON.stringify(reply)}`);
      assert.equal(typeof reply.error.message, 'string');
      assert.equal(reply.result, undefined);
    }
    await c.ok('subscribe', { channel: 'dup' });
    assert.equal(await c.code('subscribe', { channel: 'dup' }), 400, 'already subscribed');
    assert.equal(c.ws.readyState, WebSocket.OPEN, 'bad requests never close the connection');
    c.close();
  });

  test('404 unknown method (also for names of Object.prototype), with the id', async () => {
    const c = await JsonWs.open(h.wsUrl);
    for (const method of ['nope', 'constructor', '__proto__', 'toString', 'PING', '']) {
      const reply = await c.send({ id: 3, method });
      assert.deepEqual(reply.id, 3);
      assert.equal(reply.error.code, 404, method);
    }
    c.close();
  });

  test('403 on reserved $ channels; 404 history where none is kept', async () => {
    const c = await JsonWs.open(h.wsUrl);
    assert.equal(await c.code('publish', { channel: '$SYS/x', data: 1 }), 403);
    assert.equal(await c.code('history', { channel: 'plain' }), 404);
    assert.equal(await c.code('history', { channel: '$SYS/x' }), 404);
    c.close();
  });

  test('413: data over limits.max_message_size, a request over the parse limit', async () => {
    const c = await JsonWs.open(h.wsUrl);
    const max = h.server.config.limits.max_message_size;
    await c.ok('subscribe', { channel: 'big' });
    // `"x…x"` is the payload: max - 2 characters fit exactly.
    assert.deepEqual(await c.ok('publish', { channel: 'big', data: 'x'.repeat(max - 2) }), {});
    assert.equal((await c.waitPublications('big', 1))[0].params.data.length, max - 2);
    assert.equal(await c.code('publish', { channel: 'big', data: 'x'.repeat(max - 1) }), 413);
    // base64: the decoded bytes count.
    const b64 = (n: number) => ({
      channel: 'big',
      data: Buffer.alloc(n, 7).toString('base64'),
      encoding: 'base64',
    });
    assert.deepEqual(await c.ok('publish', b64(max)), {});
    assert.equal(await c.code('publish', b64(max + 1)), 413);
    const huge = await c.raw(
      JSON.stringify({ id: 5, method: 'ping', params: { pad: 'y'.repeat(5 * max + 70_000) } }),
    );
    assert.equal(huge.error.code, 413);
    assert.equal(huge.id, null, 'not parsed, so the id is unknown');
    assert.deepEqual(await c.ok('ping'), {}, 'the connection is still usable');
    c.close();
  });

  test('429 too many subscriptions', async () => {
    const small = await startServer({ limits: { max_subscriptions_per_connection: 2 } });
    try {
      const c = await JsonWs.open(small.wsUrl);
      await c.ok('subscribe', { channel: 'a' });
      await c.ok('subscribe', { channel: 'b' });
      const reply = await c.call('subscribe', { channel: 'c' });
      assert.equal(reply.error.code, 429);
      assert.match(reply.error.message, /too many subscriptions/);
      c.close();
    } finally {
      await small.stop();
    }
  });

  test('500 when the broker fails under a request; the connection and server stay up', async () => {
    const c = await JsonWs.open(h.wsUrl);
    const broker = h.server.broker as unknown as Record<string, unknown>;
    broker.presenceSync = () => {
      throw new Error('boom');
    };
    try {
      assert.deepEqual((await c.call('presence', { channel: 'x' })).error, {
        code: 500,
        message: 'internal error',
      });
    } finally {
      delete broker.presenceSync;
    }
    assert.deepEqual(await c.ok('presence', { channel: 'x' }), { presence: {} });
    c.close();
  });

  test('the 500 of a failed request is logged once with the connection id and counted in pulse_connection_errors_total', async () => {
    const lines: Json[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
        done();
      },
    });
    const own = await startServer({}, { logger: pino({ level: 'error' }, sink) });
    try {
      const c = await JsonWs.open(own.wsUrl);
      const id = (await c.ok('connect', {})).client as string;
      const dataErrors = async () =>
        metricValue(await scrape(own), 'pulse_connection_errors_total{where="data"}');
      const before = await dataErrors();
      const broker = own.server.broker as unknown as Record<string, unknown>;
      broker.presenceSync = () => {
        throw new Error('boom');
      };
      try {
        assert.equal((await c.call('presence', { channel: 'x' })).error.code, 500);
      } finally {
        delete broker.presenceSync;
      }
      assert.equal(await dataErrors(), before + 1);
      const logged = lines.filter((l) => l.err?.message === 'boom');
      assert.equal(logged.length, 1, 'one log line per fault');
      assert.equal(logged[0].connection, id);
      assert.equal(logged[0].where, 'data');
      assert.deepEqual(await c.ok('ping'), {}, 'the connection stays up');
      c.close();
    } finally {
      await own.stop();
    }
  });

  test('invalid UTF-8 in a text message: error 400, then the close 1007 that RFC 6455 requires', async () => {
    const c = await JsonWs.open(h.wsUrl);
    const bystander = await JsonWs.open(h.wsUrl);
    const reply = await c.raw(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]));
    assert.equal(reply.id, null);
    assert.equal(reply.error.code, 400);
    assert.match(reply.error.message, /UTF-8/);
    assert.equal(await c.closed, 1007);
    assert.deepEqual(await bystander.ok('ping'), {});
    bystander.close();
  });

  test('401 before connect when authentication is required (the seam; no socket: auth is not configurable yet)', () => {
    const sent: Json[] = [];
    const connection = {
      sendText: (text: string) => sent.push(JSON.parse(text)),
      enqueue: () => true,
      close: () => {},
      handshakeDone: () => {},
    } as unknown as WsConnection;
    const auth: JsonAuth = {
      required: true,
      authenticate: (token) =>
        token === 'good' ? { allowed: true, user: 'ann' } : { allowed: false, message: 'invalid token' },
    };
    const stats = new JsonStats();
    const broker = new Broker({ maxChannels: 10, maxSubscriptionsPerConnection: 10 });
    const session = new JsonSession(
      'c1',
      connection,
      {
        channels: new ChannelOperations(broker, {} as FlushScheduler, () => {}),
        stats,
        auth,
        maxMessageSize: 1000,
        maxRequestBytes: 10_000,
        heartbeatIntervalMs: 1000,
        maxOutboundBytes: 100_000,
      },
      undefined,
    );
    const send = (request: object) => session.onText(connection, Buffer.from(JSON.stringify(request)));
    send({ id: 1, method: 'subscribe', params: { channel: 'a' } });
    send({ id: 2, method: 'ping' });
    send({ id: 3, method: 'connect', params: { token: 'bad' } });
    send({ id: 4, method: 'connect', params: { token: 'good' } });
    send({ id: 5, method: 'subscribe', params: { channel: 'a' } });
    assert.deepEqual(sent, [
      { id: 1, error: { code: 401, message: 'not authenticated: send connect first' } },
      { id: 2, result: {} },
      { id: 3, error: { code: 401, message: 'invalid token' } },
      { id: 4, result: { connected: true, client: 'c1', version: 1, heartbeat: 1000 } },
      { id: 5, result: {} },
    ]);
    assert.equal(session.user, 'ann');
    assert.equal(stats.errors.get(401), 2);
  });

  test('requests and errors are counted in pulse_json_requests_total and pulse_json_errors_total', async () => {
    const c = await JsonWs.open(h.wsUrl);
    await c.ok('ping');
    await c.raw('garbage');
    await c.code('nope');
    c.close();
    const text = await scrape(h);
    assert.ok(metricValue(text, 'pulse_json_requests_total{method="ping"}') >= 1);
    assert.ok(metricValue(text, 'pulse_json_requests_total{method="invalid"}') >= 1);
    assert.ok(metricValue(text, 'pulse_json_requests_total{method="unknown"}') >= 1);
    assert.ok(metricValue(text, 'pulse_json_errors_total{code="400"}') >= 1);
    assert.ok(metricValue(text, 'pulse_json_errors_total{code="404"}') >= 1);
    assert.ok(metricValue(text, 'pulse_json_pushes_total') >= 1);
  });
});

describe('JSON protocol: history and recovery', () => {
  test('publications on a channel with history carry offset and epoch; subscribe replies with the position', async () => {
    const sub = await JsonWs.open(h.wsUrl);
    const first = await sub.ok('subscribe', { channel: 'chat:pos' });
    assert.deepEqual(Object.keys(first).sort(), ['epoch', 'offset']);
    assert.equal(first.offset, 0);
    for (let i = 1; i <= 3; i++) await sub.ok('publish', { channel: 'chat:pos', data: { i } });
    const got = await sub.waitPublications('chat:pos', 3);
    assert.deepEqual(
      got.map((p) => p.params),
      [1, 2, 3].map((i) => ({ channel: 'chat:pos', data: { i }, offset: i, epoch: first.epoch })),
    );
    const other = await JsonWs.open(h.wsUrl);
    assert.deepEqual(await other.ok('subscribe', { channel: 'chat:pos' }), { offset: 3, epoch: first.epoch });
    sub.close();
    other.close();
  });

  test('history: newest by default, since/limit page forward, another epoch starts from the oldest', async () => {
    const c = await JsonWs.open(h.wsUrl);
    for (let i = 1; i <= 150; i++) {
      await c.ok('publish', { channel: 'chat:paged', data: `p${i}`, ...(i === 150 ? { event: 'e' } : {}) });
    }
    const newest = await c.ok('history', { channel: 'chat:paged' });
    assert.equal(newest.offset, 150);
    assert.equal(newest.publications.length, 100);
    assert.deepEqual(newest.publications[0], { offset: 51, data: 'p51' });
    assert.deepEqual(newest.publications[99], { offset: 150, data: 'p150', event: 'e' });
    const seen: number[] = [];
    let since = { offset: 0, epoch: newest.epoch };
    for (;;) {
      const page = await c.ok('history', { channel: 'chat:paged', since, limit: 40 });
      if (page.publications.length === 0) break;
      assert.ok(page.publications.length <= 40);
      seen.push(...page.publications.map((p: Json) => p.offset));
      since = { offset: at(seen, seen.length - 1), epoch: page.epoch };
    }
    assert.deepEqual(seen, range(1, 150));
    const other = await c.ok('history', {
      channel: 'chat:paged',
      since: { offset: 140, epoch: 'old' },
      limit: 3,
    });
    assert.deepEqual(
      other.publications.map((p: Json) => p.offset),
      [1, 2, 3],
    );
    assert.equal(other.epoch, newest.epoch);
    const last = await c.ok('history', { channel: 'chat:paged', limit: 1 });
    assert.deepEqual(last.publications, [{ offset: 150, data: 'p150', event: 'e' }]);
    c.close();
  });

  test('recover: the reply, then exactly the missed publications, then live ones', async () => {
    const pub = await JsonWs.open(h.wsUrl);
    for (let i = 1; i <= 6; i++) await pub.ok('publish', { channel: 'chat:rec', data: i });
    const { epoch } = await pub.ok('history', { channel: 'chat:rec', limit: 1 });
    const sub = await JsonWs.open(h.wsUrl);
    const reply = await sub.call('subscribe', { channel: 'chat:rec', recover: { offset: 2, epoch } });
    assert.deepEqual(reply.result, { recovered: true, offset: 6, epoch });
    const replyAt = sub.texts.items.indexOf(reply);
    const after = (await sub.texts.waitFor(replyAt + 5)).slice(replyAt + 1, replyAt + 5);
    assert.deepEqual(
      after.map((m: Json) => [m.method, m.params.offset, m.params.data]),
      [3, 4, 5, 6].map((o) => ['publication', o, o]),
    );
    // From the exact top: recovered, nothing to send.
    const top = await JsonWs.open(h.wsUrl);
    assert.deepEqual(await top.ok('subscribe', { channel: 'chat:rec', recover: { offset: 6, epoch } }), {
      recovered: true,
      offset: 6,
      epoch,
    });
    await pub.ok('publish', { channel: 'chat:rec', data: 7 });
    assert.deepEqual(
      (await top.waitPublications('chat:rec', 1)).map((p) => p.params.offset),
      [7],
    );
    pub.close();
    sub.close();
    top.close();
  });

  test('not recovered: other epoch, past the top, more missed than kept; channels without history', async () => {
    const c = await JsonWs.open(h.wsUrl);
    for (let i = 1; i <= 10; i++) await c.ok('publish', { channel: 'small/j', data: i });
    const { epoch } = await c.ok('history', { channel: 'small/j', limit: 1 });
    for (const recover of [
      { offset: 9, epoch: 'not-the-epoch' },
      { offset: 11, epoch },
      { offset: 2, epoch },
    ]) {
      const sub = await JsonWs.open(h.wsUrl);
      assert.deepEqual(await sub.ok('subscribe', { channel: 'small/j', recover }), {
        recovered: false,
        offset: 10,
        epoch,
      });
      await sleep(20);
      assert.equal(sub.publications().length, 0, 'nothing is resent');
      sub.close();
    }
    const recover = { offset: 1, epoch: 'x' };
    assert.deepEqual(await c.ok('subscribe', { channel: 'plain:x', recover }), { recovered: false });
    assert.deepEqual(await c.ok('subscribe', { channel: 'small/+', recover }), { recovered: false });
    assert.deepEqual(await c.ok('subscribe', { channel: 'small/#' }), {});
    c.close();
  });

  test('recovery while publishers run at full speed: contiguous offsets, no gap, no duplicate', async () => {
    const channel = 'chat:race';
    const sub = await JsonWs.open(h.wsUrl);
    await sub.ok('subscribe', { channel });
    const pub = await JsonWs.open(h.wsUrl);
    for (let i = 1; i <= 10; i++) await pub.ok('publish', { channel, data: `before${i}` });
    const seen = await sub.waitPublications(channel, 10);
    const position = { offset: seen[9].params.offset, epoch: seen[9].params.epoch };
    assert.equal(position.offset, 10);
    sub.close();
    for (let i = 1; i <= 50; i++) await pub.ok('publish', { channel, data: `missed${i}` });

    // A native and a JSON publisher flood the channel from now until after the recovery.
    const nativeFlooder = await tcpClient(h);
    const jsonFlooder = await JsonWs.open(h.wsUrl);
    let flooding = true;
    let flooded = 0;
    const floods = [
      (async () => {
        while (flooding) {
          for (let i = 0; i < 20; i++) nativeFlooder.publish(channel, `"n${flooded++}"`, { ack: false });
          await nativeFlooder.publish(channel, `"n${flooded++}"`);
        }
      })(),
      (async () => {
        while (flooding) {
          const batch = [];
          for (let i = 0; i < 20; i++)
            batch.push(jsonFlooder.ok('publish', { channel, data: `j${flooded++}` }));
          await Promise.all(batch);
        }
      })(),
    ];
    await sleep(30);
    const again = await JsonWs.open(h.wsUrl);
    const result = await again.ok('subscribe', { channel, recover: position });
    assert.equal(result.recovered, true);
    assert.equal(result.epoch, position.epoch);
    assert.ok(result.offset >= 60);
    await sleep(50);
    flooding = false;
    await Promise.all(floods);
    await pub.ok('publish', { channel, data: 'last' });
    const top = (await pub.ok('history', { channel, limit: 1 })).offset;
    const got = await again.waitPublications(channel, top - 10, 10_000);
    await sleep(20);
    assert.deepEqual(
      again.publications(channel).map((p) => p.params.offset),
      range(11, top),
      'contiguous, no gap, no duplicate',
    );
    assert.deepEqual(
      got.slice(0, 50).map((p) => p.params.data),
      range(1, 50).map((i) => `missed${i}`),
    );
    assert.equal(got[got.length - 1].params.data, 'last');
    assert.ok(top > result.offset + 20, `live publications after the recovery: ${top - result.offset}`);
    pub.close();
    again.close();
    jsonFlooder.close();
    await nativeFlooder.close();
  });
});

describe('JSON protocol: across protocols', () => {
  test('native ↔ JSON: JSON data arrives as its JSON text; native JSON bytes as data, other bytes as base64', async () => {
    const native = await wsClient(h);
    const nativeInbox = new Inbox<NativePublication>();
    await native.subscribe('x:json', nativeInbox.push);
    const json = await JsonWs.open(h.wsUrl);
    await json.ok('subscribe', { channel: 'x:json' });
    await json.ok('publish', { channel: 'x:json', data: { a: [1, 'é'] }, event: 'ev' });
    const [fromJson] = await nativeInbox.waitFor(1);
    assert.ok(fromJson !== undefined);
    assert.equal(Buffer.from(fromJson.payload).toString('utf8'), '{"a":[1,"é"]}');
    assert.equal(fromJson.event, 'ev');

    await native.publish('x:json', '{"big": 123456789012345678901234567890, "s": "ü"}');
    await native.publish('x:json', new Uint8Array([0, 1, 2, 255]));
    await native.publish('x:json', 'plain text');
    await native.publish('x:json', '');
    await native.publish('x:json', Buffer.from([0xc3, 0x28]));
    const got = (await json.waitPublications('x:json', 6)).map((p) => p.params);
    assert.deepEqual(got[1], { channel: 'x:json', data: { big: 1.2345678901234568e29, s: 'ü' } });
    assert.deepEqual(got[2], { channel: 'x:json', data: 'AAEC/w==', encoding: 'base64' });
    assert.deepEqual(got[3], {
      channel: 'x:json',
      data: Buffer.from('plain text').toString('base64'),
      encoding: 'base64',
    });
    assert.deepEqual(got[4], { channel: 'x:json', data: '', encoding: 'base64' });
    assert.deepEqual(got[5], { channel: 'x:json', data: 'wyg=', encoding: 'base64' });
    // The payload's JSON text is embedded as published: big integers are not rounded on the wire.
    assert.ok(
      json.rawTexts.some((t) => t.includes('"data":{"big": 123456789012345678901234567890, "s": "ü"}')),
    );
    await native.close();
    json.close();
  });

  test('a JSON publish with encoding base64 publishes the bytes it encodes, exactly', async () => {
    const native = await wsClient(h);
    const nativeInbox = new Inbox<NativePublication>();
    await native.subscribe('x:b64', nativeInbox.push);
    const json = await JsonWs.open(h.wsUrl);
    await json.ok('subscribe', { channel: 'x:b64' });
    const bytes = [Buffer.from([0, 1, 2, 255]), Buffer.from('plain text'), Buffer.alloc(0)];
    for (const b of bytes) {
      assert.deepEqual(
        await json.ok('publish', { channel: 'x:b64', data: b.toString('base64'), encoding: 'base64' }),
        {},
      );
    }
    const got = await nativeInbox.waitFor(3);
    assert.deepEqual(
      got.map((p) => Buffer.from(p.payload).toString('hex')),
      bytes.map((b) => b.toString('hex')),
    );
    const pushed = (await json.waitPublications('x:b64', 3)).map((p) => p.params.data);
    assert.deepEqual(
      pushed,
      bytes.map((b) => b.toString('base64')),
    );
    await native.close();
    json.close();
  });

  test('presence across protocols: a native join reaches JSON, a JSON join reaches native', async () => {
    const native = await tcpClient(h);
    const events = new Inbox<PresenceEvent>();
    native.onPresence(events.push);
    await native.subscribe('p:x', () => {});
    const json = await JsonWs.open(h.wsUrl);
    const { client } = await json.ok('connect');
    await json.ok('subscribe', { channel: 'p:x' });
    await json.ok('presence_join', { channel: 'p:x', data: { who: 'json' } });
    await native.presence.join('p:x', { who: 'native', bin: new Uint8Array([1, 2]) });
    const [joined] = await events.waitFor(1);
    assert.deepEqual(joined, {
      channel: 'p:x',
      action: 'join',
      connectionId: client,
      user: undefined,
      data: { who: 'json' },
    });
    const pushes = await json.pushes.waitFor(2);
    assert.equal(pushes[1].method, 'join');
    assert.equal(pushes[1].params.connection_id, native.connectionId);
    assert.deepEqual(pushes[1].params.data, { who: 'native', bin: 'AQI=' }, 'binary presence data as base64');
    const snapshot = await json.ok('presence', { channel: 'p:x' });
    assert.deepEqual(snapshot.presence[client], { who: 'json' });
    assert.deepEqual(snapshot.presence[native.connectionId], { who: 'native', bin: 'AQI=' });
    await native.close();
    json.close();
  });

  test('MQTT ↔ JSON: MQTT payloads mapped per §6, JSON publications reach MQTT as JSON text', async () => {
    const port = await freePort();
    const m = await startServer({ mqtt: { port } });
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
      clientId: 'json-x',
      reconnectPeriod: 0,
    });
    try {
      const mqttInbox = new Inbox<[string, Buffer]>();
      client.on('message', (topic, payload) => mqttInbox.push([topic, payload]));
      await client.subscribeAsync('devices/#');
      const json = await JsonWs.open(m.wsUrl);
      await json.ok('subscribe', { channel: 'devices/+/state' });
      await json.ok('publish', { channel: 'devices/1/state', data: { on: true } });
      const [topic, payload] = at(await mqttInbox.waitFor(1), 0);
      assert.equal(topic, 'devices/1/state');
      assert.equal(payload.toString(), '{"on":true}');
      await client.publishAsync('devices/2/state', '{"on":false}', { qos: 1 });
      await client.publishAsync('devices/3/state', Buffer.from([0xde, 0xad]));
      const got = (await json.waitPublications('devices/3/state', 1)).map((p) => p.params);
      assert.deepEqual(
        json.publications().map((p) => p.params),
        [
          { channel: 'devices/1/state', data: { on: true } },
          { channel: 'devices/2/state', data: { on: false } },
          { channel: 'devices/3/state', data: '3q0=', encoding: 'base64' },
        ],
      );
      assert.equal(got.length, 1);
      json.close();
    } finally {
      await client.endAsync();
      await m.stop();
    }
  });

  test('native and JSON on one socket: one connection id, each side gets its own subscriptions', async () => {
    const h = await startServer();
    const both = await JsonWs.open(h.wsUrl);
    const connected = (await both.frames.waitFor(1))[0] as Frame & { type: 'connected' };
    assert.equal((await both.ok('connect')).client, connected.connection_id);
    both.sendFrame({ type: 'subscribe', id: 1, channel: 'mix:native' });
    both.sendFrame({ type: 'subscribe', id: 2, channel: 'mix:both' });
    await both.frames.waitFor(3);
    await both.ok('subscribe', { channel: 'mix:json' });
    await both.ok('subscribe', { channel: 'mix:both' });
    const pub = await wsClient(h);
    for (const channel of ['mix:native', 'mix:json', 'mix:both']) await pub.publish(channel, `"${channel}"`);
    await both.waitPublications('mix:both', 1);
    const frames = await both.frames.waitFor(5);
    await sleep(20);
    assert.deepEqual(
      frames.slice(3).map((f) => [f.type, (f as { channel?: string }).channel]),
      [
        ['publish', 'mix:native'],
        ['publish', 'mix:both'],
      ],
    );
    assert.deepEqual(
      both.publications().map((p) => [p.params.channel, p.params.data]),
      [
        ['mix:json', 'mix:json'],
        ['mix:both', 'mix:both'],
      ],
    );
    // publications from either side carry the same publisher connection; a native publish on the socket works
    both.sendFrame({ type: 'publish', id: 9, channel: 'mix:json', payload: Buffer.from('[1]') });
    const [ack] = (await both.frames.waitFor(6)).slice(5);
    assert.deepEqual(ack, { type: 'ack', id: 9 });
    assert.deepEqual((await both.waitPublications('mix:json', 2))[1].params.data, [1]);
    // closing the socket drops both sides' subscriptions
    const before = h.server.broker.stats.subscriptions;
    both.close();
    await both.closed;
    await sleep(20);
    assert.equal(h.server.broker.stats.subscriptions, before - 4);
    await pub.close();
    await h.stop();
  });
});

describe('JSON protocol: heartbeat and shutdown', () => {
  test('a JSON client that keeps sending stays; a silent one gets a ping push, then a disconnect and close 1001', async () => {
    const hb = await startServer({ heartbeat: { interval_ms: 100, timeout_ms: 300 } });
    try {
      const talker = await JsonWs.open(hb.wsUrl);
      const silent = await JsonWs.open(hb.wsUrl);
      await talker.ok('ping');
      await silent.ok('ping');
      const started = Date.now();
      while (Date.now() - started < 900) {
        await talker.ok('ping');
        await sleep(50);
      }
      assert.equal(talker.ws.readyState, WebSocket.OPEN);
      assert.equal(await silent.closed, 1001);
      assert.deepEqual(silent.pushes.items, [
        { method: 'ping' },
        { method: 'disconnect', params: { reason: 'heartbeat timeout' } },
      ]);
      talker.close();
    } finally {
      await hb.stop();
    }
  });

  test('shutdown: a disconnect push, then close 1001', async () => {
    const s = await startServer();
    const c = await JsonWs.open(s.wsUrl);
    await c.ok('subscribe', { channel: 'x' });
    await s.stop();
    assert.equal(await c.closed, 1001);
    assert.deepEqual(c.pushes.items, [{ method: 'disconnect', params: { reason: 'server shutting down' } }]);
  });
});

describe('JSON protocol: fuzz', () => {
  test('thousands of random and mutated requests: an error or a result for each, a bystander unaffected', async () => {
    const seed = Number(process.env.PULSE_FUZZ_SEED ?? 20240611);
    const rand = seededRandom(seed);
    const int = (n: number) => Math.floor(rand() * n);
    const pick = <T>(list: readonly T[]): T => at(list, int(list.length));
    const weird: unknown[] = [
      null,
      true,
      false,
      0,
      -1,
      1.5,
      2 ** 53,
      2 ** 64,
      -(2 ** 63),
      1e308,
      '',
      'x',
      '$SYS/x',
      'a/+',
      '#',
      'é',
      '\u0000',
      '\ud800',
      [],
      {},
      [1, 'a'],
      { offset: 1, epoch: 'e' },
      { offset: -1, epoch: 5 },
      { a: { b: { c: [] } } },
    ];
    const randomValue = (depth: number): unknown => {
      const r = int(depth > 3 ? 6 : 9);
      switch (r) {
        case 0:
          return null;
        case 1:
          return rand() < 0.5;
        case 2:
          return (rand() - 0.5) * 10 ** int(30);
        case 3:
          return int(1000);
        case 4:
          return String.fromCharCode(...Array.from({ length: int(12) }, () => int(0x10000)));
        case 5:
          return pick(weird);
        case 6:
          return Array.from({ length: int(4) }, () => randomValue(depth + 1));
        default: {
          const o: Record<string, unknown> = {};
          for (let i = int(4); i > 0; i--)
            o[pick(['channel', 'data', 'recover', 'since', 'limit', 'token', 'event', 'x'])] = randomValue(
              depth + 1,
            );
          return o;
        }
      }
    };
    const methods = [
      'connect',
      'subscribe',
      'unsubscribe',
      'publish',
      'presence',
      'presence_join',
      'presence_leave',
      'presence_update',
      'history',
      'ping',
      'nope',
    ];
    const channels = ['fz:a', 'fz:b', 'chat:fz', 'small/fz', 'fz/+', 'fz/#'];
    const validish = (): Record<string, unknown> => {
      const params: Record<string, unknown> = { channel: pick(channels) };
      if (rand() < 0.5) params.data = randomValue(0);
      if (rand() < 0.3) params.recover = rand() < 0.5 ? { offset: int(5), epoch: 'e' } : pick(weird);
      if (rand() < 0.3) params.limit = pick([1, 5, 1000, 0, 1001, '3', null, 2.5]);
      if (rand() < 0.3) params.since = rand() < 0.5 ? { offset: int(5), epoch: 'e' } : pick(weird);
      if (rand() < 0.2) params.event = pick(weird);
      // every param also gets a wrong type now and then
      if (rand() < 0.3)
        params[pick(['channel', 'data', 'recover', 'since', 'limit', 'event', 'token'])] = pick(weird);
      return { id: int(1e6), method: pick(methods), params: rand() < 0.9 ? params : pick(weird) };
    };
    const mutate = (text: string): string => {
      const chars = [...text];
      for (let i = int(4); i >= 0; i--) {
        const at = int(chars.length + 1);
        const op = int(3);
        if (op === 0) chars.splice(at, 1);
        else if (op === 1)
          chars.splice(at, 0, pick(['{', '}', '[', ']', '"', ',', ':', '\\', 'x', '1', ' ', 'é']));
        else chars[at] = pick(['"', '0', 'n', '\\u', '}']);
      }
      return chars.join('');
    };
    const message = (): string => {
      switch (int(8)) {
        case 0:
          return JSON.stringify(randomValue(0)) ?? 'undefined';
        case 1:
          return mutate(JSON.stringify(validish()));
        case 2: {
          const depth = 1 + int(200);
          return `{"id":1,"method":"publish","params":{"channel":"fz:a","data":${'['.repeat(depth)}${']'.repeat(depth)}}}`;
        }
        case 3:
          return `{"id":${pick(['1e400', '-0', '123456789012345678901234567890', '1.0', '0x10', 'NaN'])},"method":"ping"}`;
        case 4:
          return String.fromCharCode(...Array.from({ length: int(40) }, () => int(0x80)));
        default:
          return JSON.stringify(validish());
      }
    };

    const bystander = await JsonWs.open(h.wsUrl);
    await bystander.ok('subscribe', { channel: 'fz:bystander' });
    const publisher = await JsonWs.open(h.wsUrl);
    const fuzzer = await JsonWs.open(h.wsUrl);
    const total = 4000;
    let published = 0;
    const codes = new Map<number, number>();
    for (let sent = 0; sent < total; ) {
      const batch = Math.min(100, total - sent);
      const before = fuzzer.texts.items.filter((m) => 'id' in m).length;
      for (let i = 0; i < batch; i++) fuzzer.ws.send(message());
      sent += batch;
      await publisher.ok('publish', { channel: 'fz:bystander', data: { n: published++ } });
      const deadline = Date.now() + 10_000;
      while (fuzzer.texts.items.filter((m) => 'id' in m).length < before + batch) {
        assert.ok(Date.now() < deadline, `seed ${seed}: replies missing after ${sent} requests`);
        await sleep(2);
      }
    }
    const replies = fuzzer.texts.items.filter((m) => 'id' in m);
    assert.equal(replies.length, total, `seed ${seed}: exactly one reply per request`);
    for (const r of replies) {
      assert.ok('result' in r !== 'error' in r, `seed ${seed}: ${JSON.stringify(r)}`);
      if (r.error) {
        assert.ok([400, 403, 404, 413, 429].includes(r.error.code), `seed ${seed}: ${JSON.stringify(r)}`);
        codes.set(r.error.code, (codes.get(r.error.code) ?? 0) + 1);
      }
    }
    assert.ok((codes.get(400) ?? 0) > total / 4, `mostly bad requests: ${JSON.stringify([...codes])}`);
    assert.ok(
      replies.some((r) => 'result' in r),
      'some requests were valid',
    );
    const got = await bystander.waitPublications('fz:bystander', published);
    assert.deepEqual(
      got.map((p) => p.params.data.n),
      range(0, published - 1),
    );
    assert.equal(bystander.ws.readyState, WebSocket.OPEN);
    assert.equal(fuzzer.ws.readyState, WebSocket.OPEN, 'bad requests do not close the connection');
    // Invalid UTF-8 closes the offender only (RFC 6455); everyone else carries on.
    fuzzer.ws.send(Buffer.from([0x22, 0xc0, 0xaf, 0x22]), { binary: false });
    assert.equal(await fuzzer.closed, 1007);
    assert.deepEqual(await bystander.ok('ping'), {});
    const res = await fetch(`${h.httpUrl}/health`);
    assert.equal(res.status, 200);
    bystander.close();
    publisher.close();
  });
});
