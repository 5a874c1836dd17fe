import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { at } from '@pulse/protocol/test/element';
import { type WebSocket, WebSocketServer } from 'ws';
import { NAIVE_JOINED, naiveWsDialect } from '../src/dialects/naive-ws.js';
import { type Connection, connect } from '../src/generator/connection.js';
import type { Tally } from '../src/generator/dialect.js';
import { LatencySamples } from '../src/generator/marker.js';
import { PublishLoop } from '../src/generator/publish-loop.js';

/** The generator against a real `ws` server: handshake, masking, counting, latency, pacing. */
describe('generator over loopback', () => {
  let wss: WebSocketServer;
  let port: number;
  const received: Buffer[] = [];

  before(async () => {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    port = (wss.address() as AddressInfo).port;
    const room = new Set<WebSocket>();
    wss.on('connection', (ws) => {
      let joined = false;
      ws.on('message', (data: Buffer, isBinary) => {
        if (!joined) {
          joined = true;
          room.add(ws);
          ws.send(NAIVE_JOINED);
          return;
        }
        received.push(data);
        for (const c of room) if (c !== ws) c.send(data, { binary: isBinary });
      });
    });
  });

  after(() => {
    for (const c of wss.clients) c.terminate();
    wss.close();
  });

  it('subscribes, publishes in a closed loop and counts every delivery', async () => {
    const tally: Tally = { delivered: 0, closed: 0 };
    const samples = new LatencySamples();
    const open = (role: 'subscriber' | 'publisher', sampled: boolean): Promise<Connection> =>
      connect({
        host: '127.0.0.1',
        port,
        dialect: naiveWsDialect,
        role,
        channel: 'room',
        tally,
        samples: sampled ? samples : null,
      });
    const subs = await Promise.all([
      open('subscriber', true),
      open('subscriber', false),
      open('subscriber', false),
    ]);
    const pub = await open('publisher', false);
    const loop = new PublishLoop(pub, subs[2], naiveWsDialect, 64, { kind: 'window', window: 8 });
    loop.start();
    while (subs[2].count < 200) await new Promise((r) => setTimeout(r, 5));
    loop.stop();
    const sent = loop.sent;
    while (tally.delivered < sent * 3) await new Promise((r) => setTimeout(r, 5));
    assert.equal(tally.delivered, sent * 3);
    assert.equal(subs[0].count, sent);
    assert.equal(samples.length, sent);
    // What the server unmasked is the marked payload with a plausible stamp.
    assert.equal(at(received, 0).length, 64);
    assert.match(received.at(-1)!.toString('latin1'), /^@@\d{16}x{46}$/);
    for (const c of [...subs, pub]) c.close();
  });

  it('paces an open loop', async () => {
    const tally: Tally = { delivered: 0, closed: 0 };
    const sub = await connect({
      host: '127.0.0.1',
      port,
      dialect: naiveWsDialect,
      role: 'subscriber',
      channel: 'r2',
      tally,
      samples: null,
    });
    const pub = await connect({
      host: '127.0.0.1',
      port,
      dialect: naiveWsDialect,
      role: 'publisher',
      channel: 'r2',
      tally,
      samples: null,
    });
    const loop = new PublishLoop(pub, null, naiveWsDialect, 64, { kind: 'rate', rate: 1000 });
    loop.start();
    await new Promise((r) => setTimeout(r, 200));
    loop.stop();
    assert.ok(loop.sent >= 120 && loop.sent <= 260, `sent ${loop.sent} in 200 ms at 1000/s`);
    sub.close();
    pub.close();
  });

  it('reports a refused upgrade', async () => {
    const http = net.createServer((socket) =>
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'),
    );
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const tally: Tally = { delivered: 0, closed: 0 };
    const { port: httpPort } = http.address() as AddressInfo;
    await assert.rejects(
      connect({
        host: '127.0.0.1',
        port: httpPort,
        dialect: naiveWsDialect,
        role: 'subscriber',
        channel: 'x',
        tally,
        samples: null,
      }),
      /upgrade refused: HTTP\/1.1 404 Not Found/,
    );
    http.close();
  });
});
