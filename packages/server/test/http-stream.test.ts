import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type Publication, PulseClient, PulseError, openHttpStream } from '@pulse/client';
import type { Frame } from '@pulse/protocol';
import WebSocket from 'ws';
import { SECRET, token } from './auth-helpers.js';
import {
  type Harness,
  Inbox,
  RawWs,
  counterValue,
  metricValue,
  scrape,
  sleep,
  startServer,
  wsClient,
} from './helpers.js';
import { RawHttpStream, dribble, framed, post } from './http-stream-raw.js';
import { until } from './sdk-helpers.js';

const HISTORY = [{ pattern: 'chat:*', size: 1000, ttl_ms: 0 }];
const text = (p: Publication) => Buffer.from(p.payload).toString();
const isError = (code: number) => (f: Frame) => f.type === 'error' && f.code === code;

for (const format of ['binary', 'sse'] as const) {
  describe(`HTTP streaming (${format}): the SDK over HTTP beside WebSocket`, () => {
    let h: Harness;
    before(async () => {
      h = await startServer({ history: HISTORY });
    });
    after(() => h.stop());
    const httpClient = async () => PulseClient.over(await openHttpStream(h.httpUrl, { format }));

    test('connect, subscribe, publish both ways, presence, history and recover', async () => {
      const viaHttp = await httpClient();
      const viaWs = await wsClient(h);
      assert.match(viaHttp.connectionId, /^[0-9a-f]+$/);
      assert.ok(viaHttp.heartbeatMs > 0);
      const httpInbox = new Inbox<string>();
      const wsInbox = new Inbox<string>();
      await viaHttp.subscribe('chat:a', (p) => httpInbox.push(text(p)));
      await viaWs.subscribe('chat:a', (p) => wsInbox.push(text(p)));
      await viaWs.publish('chat:a', 'from ws');
      await viaHttp.publish('chat:a', 'from http');
      assert.deepEqual(await httpInbox.waitFor(2), ['from ws', 'from http']);
      assert.deepEqual(await wsInbox.waitFor(2), ['from ws', 'from http']);

      const presence = new Inbox<[string, string]>();
      viaWs.onPresence((e) => presence.push([e.action, e.connectionId]));
      await viaHttp.presence.join('chat:a', { name: 'h' });
      assert.deepEqual(await viaWs.presence.sync('chat:a'), { [viaHttp.connectionId]: { name: 'h' } });
      assert.deepEqual(await presence.waitFor(1), [['join', viaHttp.connectionId]]);

      const page = await viaHttp.history('chat:a');
      assert.deepEqual(page.publications.map(text), ['from ws', 'from http']);

      // Recovery: what was published while the HTTP client was gone comes first, then live ones.
      const position = viaHttp.lastPosition('chat:a');
      assert.ok(position);
      await viaHttp.close();
      assert.deepEqual(await presence.waitFor(2), [
        ['join', viaHttp.connectionId],
        ['leave', viaHttp.connectionId],
      ]);
      for (let i = 1; i <= 3; i++) await viaWs.publish('chat:a', `missed ${i}`);
      const again = await httpClient();
      const recovered = new Inbox<string>();
      const result = await again.subscribe('chat:a', (p) => recovered.push(text(p)), { recover: position });
      assert.equal(result.recovered, true);
      await viaWs.publish('chat:a', 'live');
      assert.deepEqual(await recovered.waitFor(4), ['missed 1', 'missed 2', 'missed 3', 'live']);
      await sleep(50);
      assert.equal(recovered.items.length, 4, 'nothing twice');
      await again.close();
      await viaWs.close();
    });

    test('many frames in flight keep their order (batched POSTs)', async () => {
      const viaHttp = await httpClient();
      const viaWs = await wsClient(h);
      const got = new Inbox<string>();
      await viaWs.subscribe('chat:order', (p) => got.push(text(p)));
      const sends: Promise<unknown>[] = [];
      for (let i = 0; i < 300; i++) sends.push(viaHttp.publish('chat:order', `${i}`, { ack: true }));
      await Promise.all(sends);
      const items = await got.waitFor(300);
      assert.deepEqual(
        items,
        Array.from({ length: 300 }, (_, i) => `${i}`),
      );
      await viaHttp.close();
      await viaWs.close();
    });
  });
}

describe('HTTP streaming: auth, errors and limits', () => {
  let h: Harness;
  before(async () => {
    h = await startServer({ limits: { max_http_body_bytes: 4096 } });
  });
  after(() => h.stop());

  test('POST to an unknown session: 404; with no session: 400; wrong methods: 405; other paths: 404', async () => {
    const frame = framed({ type: 'ping' });
    const unknown = await post(`${h.httpUrl}/connection/send`, frame, { 'pulse-session': 'A'.repeat(24) });
    assert.equal(unknown.status, 404);
    assert.match(unknown.body, /no such session/);
    const garbage = await post(`${h.httpUrl}/connection/send?session=..%00`, frame);
    assert.equal(garbage.status, 404);
    const none = await post(`${h.httpUrl}/connection/send`, frame);
    assert.equal(none.status, 400);
    assert.match(none.body, /pulse-session/);
    assert.equal((await fetch(`${h.httpUrl}/connection/send`)).status, 405);
    const postToStream = await post(`${h.httpUrl}/connection/stream`, frame);
    assert.equal(postToStream.status, 405);
    assert.equal(postToStream.headers.allow, 'GET');
    assert.equal((await fetch(`${h.httpUrl}/connection/nothing`)).status, 404);
  });

  test('a session id in the query works too; the id is not the connection id and is 144 random bits', async () => {
    const s = await RawHttpStream.open(h.httpUrl);
    const connected = await s.frame((f) => f.type === 'connected');
    assert.match(s.session, /^[A-Za-z0-9_-]{24}$/);
    assert.notEqual(s.session, (connected as { connection_id: string }).connection_id);
    const answer = await post(
      `${h.httpUrl}/connection/send?session=${s.session}`,
      framed({ type: 'ping', timestamp: 7 }),
    );
    assert.equal(answer.status, 204);
    await s.frame((f) => f.type === 'pong' && f.timestamp === 7);
    s.close();
  });

  test('a body over limits.max_http_body_bytes: 413; with a Content-Length saying so the session lives', async () => {
    const s = await RawHttpStream.open(h.httpUrl);
    await s.frame((f) => f.type === 'connected');
    const big = Buffer.alloc(5000);
    const declared = await s.post(big);
    assert.equal(declared.status, 413);
    assert.match(declared.body, /max_http_body_bytes/);
    assert.equal((await s.post(framed({ type: 'ping', timestamp: 1 }))).status, 204);
    await s.frame((f) => f.type === 'pong' && f.timestamp === 1);
    // Chunked, no length: read up to the limit; it stopped inside a frame, so the session ends.
    const huge = framed({ type: 'publish', channel: 'x', payload: Buffer.alloc(4500) });
    const { answer } = dribble(
      `${h.httpUrl}/connection/send`,
      [huge.subarray(0, 3000), huge.subarray(3000)],
      5,
      {
        'pulse-session': s.session,
      },
    );
    assert.equal((await answer).status, 413);
    await s.frame(isError(1001));
    await s.ended;
  });

  test('a body ending inside a frame: 400, error 1001 on the stream, the session closes', async () => {
    const s = await RawHttpStream.open(h.httpUrl);
    await s.frame((f) => f.type === 'connected');
    const frame = framed({ type: 'subscribe', id: 1, channel: 'a' });
    const answer = await s.post(
      Buffer.concat([framed({ type: 'ping', timestamp: 2 }), frame.subarray(0, 5)]),
    );
    assert.equal(answer.status, 400);
    assert.match(answer.body, /inside a frame/);
    await s.frame((f) => f.type === 'pong' && f.timestamp === 2);
    await s.frame(isError(1001));
    await s.ended;
    assert.equal((await s.post(framed({ type: 'ping' }))).status, 404);
  });

  test('a frame over limits.max_frame_size in a POST: 413 and error 1007, as over TCP', async () => {
    const s = await RawHttpStream.open(h.httpUrl);
    await s.frame((f) => f.type === 'connected');
    const prefix = Buffer.alloc(8);
    prefix.writeUInt32BE(0xffffffff, 0);
    const answer = await s.post(prefix);
    assert.equal(answer.status, 413);
    await s.frame(isError(1007));
    await s.ended;
  });

  test('concurrent POSTs of one session are read in the order they arrived', async () => {
    const watcher = await wsClient(h);
    const got = new Inbox<string>();
    await watcher.subscribe('order', (p) => got.push(text(p)));
    const s = await RawHttpStream.open(h.httpUrl);
    await s.frame((f) => f.type === 'connected');
    const pub = (n: number) => framed({ type: 'publish', channel: 'order', payload: Buffer.from(`${n}`) });
    const url = `${h.httpUrl}/connection/send`;
    // The first POST is slow: the second, sent meanwhile, waits for it.
    const slow = dribble(url, [pub(1), pub(2)], 150, { 'pulse-session': s.session });
    await sleep(50);
    const fast = s.post(pub(3));
    assert.equal((await slow.answer).status, 204);
    assert.equal((await fast).status, 204);
    assert.deepEqual(await got.waitFor(3), ['1', '2', '3']);
    s.close();
    await watcher.close();
  });

  test('closing the stream ends the session: others see the presence leave; its POSTs get 404', async () => {
    const watcher = await wsClient(h);
    const presence = new Inbox<string>();
    watcher.onPresence((e) => presence.push(`${e.action} ${e.connectionId}`));
    await watcher.subscribe('room', () => {});
    const s = await RawHttpStream.open(h.httpUrl);
    const connected = (await s.frame((f) => f.type === 'connected')) as { connection_id: string };
    assert.equal((await s.post(framed({ type: 'presence', id: 1, channel: 'room', action: 0 }))).status, 204);
    await s.frame((f) => f.type === 'ack' && f.id === 1);
    const before = h.server.connectionCount;
    s.close();
    assert.deepEqual(await presence.waitFor(2), [
      `join ${connected.connection_id}`,
      `leave ${connected.connection_id}`,
    ]);
    assert.equal(h.server.connectionCount, before - 1);
    assert.equal((await s.post(framed({ type: 'ping' }))).status, 404);
    await watcher.close();
  });

  test('a stream GET pipelined behind another on one socket opens no session, and none outlives the socket', async () => {
    const before = h.server.connectionCount;
    const socket = connect(Number(new URL(h.httpUrl).port), '127.0.0.1');
    socket.on('error', () => {});
    let answer = '';
    socket.on('data', (d: Buffer) => {
      answer += d.toString('latin1');
    });
    const get = 'GET /connection/stream HTTP/1.1\r\nhost: x\r\n\r\n';
    socket.write(get + get);
    await until(() => answer.includes('pulse-session'), 'the first stream');
    await sleep(100);
    // The second response could only be written after the first, endless, one.
    assert.equal(h.server.connectionCount, before + 1, 'one session for the socket');
    socket.destroy();
    await once(socket, 'close');
    await until(() => h.server.connectionCount === before, 'every session of the socket to end', 2000);
  });

  test('metrics: connections by transport http_stream and sse', async () => {
    const binary = await RawHttpStream.open(h.httpUrl);
    const sse = await RawHttpStream.open(h.httpUrl, true);
    await binary.frame((f) => f.type === 'connected');
    await sse.frame((f) => f.type === 'connected');
    assert.equal((await binary.post(framed({ type: 'ping' }))).status, 204);
    const text = await scrape(h);
    assert.ok(counterValue(text, 'pulse_bytes_in_total{transport="http_stream"}') >= 5);
    assert.equal(metricValue(text, 'pulse_connections{transport="http_stream"}'), 1);
    assert.equal(metricValue(text, 'pulse_connections{transport="sse"}'), 1);
    assert.ok(counterValue(text, 'pulse_connections_accepted_total{transport="http_stream"}') >= 1);
    assert.ok(counterValue(text, 'pulse_bytes_out_total{transport="sse"}') > 0);
    binary.close();
    sse.close();
    await binary.ended;
    await sse.ended;
    await sleep(20);
    const later = await scrape(h);
    assert.equal(metricValue(later, 'pulse_connections{transport="http_stream"}'), 0);
    assert.equal(metricValue(later, 'pulse_connections{transport="sse"}'), 0);
  });
});

describe('HTTP streaming: JWT, deadlines, admission, shutdown, CORS', () => {
  test('a valid token connects over HTTP; a bad one is refused with 1003 as over WebSocket', async () => {
    const h = await startServer({ auth: { enabled: true, jwt_hmac_secret: SECRET } });
    try {
      const t = await token('ann', ['room/#']);
      const viaHttp = await PulseClient.over(await openHttpStream(h.httpUrl), { token: t });
      const viaWs = await PulseClient.connect(h.wsUrl, { WebSocket: WebSocket as never, token: t });
      const got = new Inbox<string>();
      await viaWs.subscribe('room/1', (p) => got.push(text(p)));
      await viaHttp.publish('room/1', 'hi');
      assert.deepEqual(await got.waitFor(1), ['hi']);
      await assert.rejects(viaHttp.publish('elsewhere', 'x'), (e: PulseError) => e.code === 1004);
      const refused = (p: Promise<unknown>) =>
        assert.rejects(p, (e: PulseError) => e instanceof PulseError && e.code === 1003);
      await refused(PulseClient.over(await openHttpStream(h.httpUrl), { token: 'bad' }));
      await refused(PulseClient.over(await openHttpStream(h.httpUrl, { format: 'sse' }), { token: 'bad' }));
      await refused(PulseClient.connect(h.wsUrl, { WebSocket: WebSocket as never, token: 'bad' }));
      await viaHttp.close();
      await viaWs.close();
    } finally {
      await h.stop();
    }
  });

  test('no connect by limits.handshake_timeout_ms: error 1003 and the stream ends', async () => {
    const h = await startServer({
      auth: { enabled: true, jwt_hmac_secret: SECRET },
      limits: { handshake_timeout_ms: 300 },
    });
    try {
      const s = await RawHttpStream.open(h.httpUrl);
      const started = Date.now();
      await s.frame(isError(1003));
      await s.ended;
      assert.ok(Date.now() - started >= 200);
    } finally {
      await h.stop();
    }
  });

  test('a client that never POSTs is pinged, then closed at heartbeat.timeout_ms', async () => {
    const h = await startServer({ heartbeat: { interval_ms: 100, timeout_ms: 300 } });
    try {
      const s = await RawHttpStream.open(h.httpUrl);
      await s.frame((f) => f.type === 'ping');
      await s.frame((f) => f.type === 'error' && f.message === 'heartbeat timeout');
      await s.ended;
      // One that answers its pings stays.
      const client = await PulseClient.over(await openHttpStream(h.httpUrl));
      await sleep(600);
      assert.equal(
        await Promise.race([client.closed.then(() => 'closed'), sleep(1).then(() => 'open')]),
        'open',
      );
      await client.close();
    } finally {
      await h.stop();
    }
  });

  test('limits.max_connections counts HTTP sessions: the one over it gets error 1006', async () => {
    const h = await startServer({ limits: { max_connections: 1 } });
    try {
      const first = await RawHttpStream.open(h.httpUrl);
      await first.frame((f) => f.type === 'connected');
      const second = await RawHttpStream.open(h.httpUrl, true);
      await second.frame(isError(1006));
      await second.ended;
      await assert.rejects(wsClient(h));
      first.close();
    } finally {
      await h.stop();
    }
  });

  test('a stream reader that stops reading is a slow consumer: past limits.max_outbound_bytes it is disconnected', async () => {
    const h = await startServer({
      limits: { max_outbound_bytes: 65_536, slow_consumer_policy: 'disconnect', max_publisher_pause_ms: 0 },
    });
    try {
      const s = await RawHttpStream.open(h.httpUrl);
      await s.frame((f) => f.type === 'connected');
      assert.equal((await s.post(framed({ type: 'subscribe', id: 1, channel: 'flood' }))).status, 204);
      await s.frame((f) => f.type === 'ack' && f.id === 1);
      s.response.pause();
      const publisher = await wsClient(h);
      const payload = Buffer.alloc(4096, 1);
      for (let i = 0; i < 4000 && h.server.transportStats.http_stream.slowConsumerDisconnects === 0; i++) {
        await publisher.publish('flood', payload, { ack: true });
      }
      assert.equal(h.server.transportStats.http_stream.slowConsumerDisconnects, 1);
      s.response.resume();
      await s.ended;
      await publisher.close();
    } finally {
      await h.stop();
    }
  });

  test('an HTTP publisher feeding a reader past its budget is paused (its POST waits), and nothing is lost', async () => {
    // A body far larger than the budget plus the loopback socket buffers (several MB): with
    // less, those buffers take it all while the reader is not reading, the POST is answered at
    // once, and the only pauses are the sub-millisecond ones of a batch past the budget before
    // it is written (which Date.now() may count as 0 ms).
    const h = await startServer({ limits: { max_outbound_bytes: 65_536, max_http_body_bytes: 16_777_220 } });
    try {
      const reader = await RawWs.open(h.wsUrl);
      reader.send({ type: 'subscribe', id: 1, channel: 'step' });
      await reader.frame(1);
      const s = await RawHttpStream.open(h.httpUrl);
      await s.frame((f) => f.type === 'connected');
      const count = 5000;
      const body = Buffer.concat(
        Array.from({ length: count }, (_, i) =>
          framed({ type: 'publish', channel: 'step', payload: Buffer.alloc(2048, i % 256), event: `${i}` }),
        ),
      );
      const socket = (reader.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
      socket.pause();
      let answeredEarly = false;
      const answered = s.post(body);
      void answered.then(() => {
        answeredEarly = true;
      });
      // More than half the budget still unwritten between two turns: the socket buffers are
      // full, and the publisher is paused until the reader has room again.
      await until(() => h.server.outboundBytes() > 65_536 / 2, 'the reader to fall behind');
      // Well under the default max_publisher_pause_ms (1 s): the reader does not stall.
      await sleep(300);
      assert.equal(answeredEarly, false, 'the POST waits while the reader does not read');
      socket.resume();
      assert.equal((await answered).status, 204);
      const frames = await reader.frames.waitFor(count + 2, 20_000);
      assert.deepEqual(
        frames.slice(2).map((f: Frame) => (f as { event?: string }).event),
        Array.from({ length: count }, (_, i) => `${i}`),
      );
      const metrics = await scrape(h);
      // Paused for the 300 ms: far more than a batch's pauses before its write.
      const paused = counterValue(metrics, 'pulse_publisher_paused_seconds_total{transport="http_stream"}');
      assert.ok(paused >= 0.25, `paused for ${paused} s`);
      assert.equal(counterValue(metrics, 'pulse_reader_stalls_total{transport="ws"}'), 0);
      assert.equal(counterValue(metrics, 'pulse_dropped_total{transport="ws"}'), 0);
      s.close();
      reader.ws.close();
    } finally {
      await h.stop();
    }
  });

  test('server shutdown: error 1010 on the stream, then it ends; the SDK sees the close', async () => {
    const h = await startServer();
    const s = await RawHttpStream.open(h.httpUrl);
    await s.frame((f) => f.type === 'connected');
    const client = await PulseClient.over(await openHttpStream(h.httpUrl, { format: 'sse' }));
    const stopped = h.stop();
    await s.frame(isError(1010));
    await s.ended;
    await client.closed;
    await stopped;
  });

  test('transport.http_stream = false: no endpoints', async () => {
    const h = await startServer({ transport: { http_stream: false } });
    try {
      assert.equal((await fetch(`${h.httpUrl}/connection/stream`)).status, 404);
      await assert.rejects(openHttpStream(h.httpUrl), /HTTP 404/);
    } finally {
      await h.stop();
    }
  });

  test('server.workers other than 1: the endpoints answer 501 (a POST could reach another worker)', async () => {
    // A worker's own server, as the primary starts it (the engine it would need plays no part here).
    const h = await startServer({ server: { workers: 2 } });
    try {
      const answer = await fetch(`${h.httpUrl}/connection/stream`);
      assert.equal(answer.status, 501);
      assert.match(await answer.text(), /server\.workers/);
      assert.equal((await post(`${h.httpUrl}/connection/send`, framed({ type: 'ping' }))).status, 501);
    } finally {
      await h.stop();
    }
  });

  test('CORS: listed origins get the headers and Pulse-Session exposed; others none, preflight 403', async () => {
    const h = await startServer({ transport: { http_stream_origins: ['https://app.example'] } });
    try {
      const ok = await fetch(`${h.httpUrl}/connection/send`, {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
      });
      assert.equal(ok.status, 204);
      assert.equal(ok.headers.get('access-control-allow-origin'), 'https://app.example');
      assert.match(ok.headers.get('access-control-allow-headers') ?? '', /pulse-session/);
      const other = await fetch(`${h.httpUrl}/connection/send`, {
        method: 'OPTIONS',
        headers: { origin: 'https://evil.example' },
      });
      assert.equal(other.status, 403);
      const s = await RawHttpStream.open(h.httpUrl, false, { origin: 'https://app.example' });
      assert.equal(s.response.headers['access-control-allow-origin'], 'https://app.example');
      assert.equal(s.response.headers['access-control-expose-headers'], 'pulse-session');
      const evil = await RawHttpStream.open(h.httpUrl, false, { origin: 'https://evil.example' });
      assert.equal(evil.response.headers['access-control-allow-origin'], undefined);
      s.close();
      evil.close();
    } finally {
      await h.stop();
    }
  });

  test('CORS with cookies: a listed origin is echoed with Allow-Credentials and Vary: Origin; "*" never allows credentials', async () => {
    const h = await startServer({ transport: { http_stream_origins: ['https://app.example', '*'] } });
    try {
      const preflight = await fetch(`${h.httpUrl}/connection/send`, {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
      });
      assert.equal(preflight.status, 204);
      assert.equal(preflight.headers.get('access-control-allow-origin'), 'https://app.example');
      assert.equal(preflight.headers.get('access-control-allow-credentials'), 'true');
      assert.match(preflight.headers.get('vary') ?? '', /origin/i);
      const listed = await RawHttpStream.open(h.httpUrl, false, { origin: 'https://app.example' });
      assert.equal(listed.response.headers['access-control-allow-origin'], 'https://app.example');
      assert.equal(listed.response.headers['access-control-allow-credentials'], 'true');
      assert.match(String(listed.response.headers.vary), /origin/i);
      const sent = await listed.post(framed({ type: 'ping' }), { origin: 'https://app.example' });
      assert.equal(sent.status, 204);
      assert.equal(sent.headers['access-control-allow-origin'], 'https://app.example');
      assert.equal(sent.headers['access-control-allow-credentials'], 'true');
      // Any other origin is let in by "*", without cookies: a browser then refuses a
      // credentialed request, so no site can ride on a signed-in user's cookies.
      const anyOrigin = await RawHttpStream.open(h.httpUrl, false, { origin: 'https://other.example' });
      assert.equal(anyOrigin.response.headers['access-control-allow-origin'], '*');
      assert.equal(anyOrigin.response.headers['access-control-allow-credentials'], undefined);
      const anyPreflight = await fetch(`${h.httpUrl}/connection/send`, {
        method: 'OPTIONS',
        headers: { origin: 'https://other.example', 'access-control-request-method': 'POST' },
      });
      assert.equal(anyPreflight.headers.get('access-control-allow-credentials'), null);
      listed.close();
      anyOrigin.close();
    } finally {
      await h.stop();
    }
  });

  test('CORS preflight: the headers the SDK sends with an Authorization in its headers option are allowed', async () => {
    const h = await startServer({ transport: { http_stream_origins: ['https://app.example'] } });
    try {
      // What a browser asks before the SDK's requests with headers: {authorization}.
      const asked = {
        '/connection/stream': ['authorization'],
        '/connection/send': ['authorization', 'content-type', 'pulse-session'],
      };
      for (const [path, names] of Object.entries(asked)) {
        const preflight = await fetch(`${h.httpUrl}${path}`, {
          method: 'OPTIONS',
          headers: {
            origin: 'https://app.example',
            'access-control-request-method': path.endsWith('send') ? 'POST' : 'GET',
            'access-control-request-headers': names.join(','),
          },
        });
        assert.equal(preflight.status, 204);
        const allowed = (preflight.headers.get('access-control-allow-headers') ?? '')
          .split(',')
          .map((name) => name.trim().toLowerCase());
        for (const name of names) assert.ok(allowed.includes(name), `${path}: ${name} not in ${allowed}`);
      }
      const withAuth = { origin: 'https://app.example', authorization: 'Bearer for-the-gateway' };
      const s = await RawHttpStream.open(h.httpUrl, false, withAuth);
      assert.equal((await s.post(framed({ type: 'ping' }), withAuth)).status, 204);
      s.close();
    } finally {
      await h.stop();
    }
  });
});
