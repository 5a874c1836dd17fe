import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import { once } from 'node:events';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Publication } from '@pulse/client';
import { encodeFrame } from '@pulse/protocol';
import WebSocket from 'ws';
import { type Harness, Inbox, RawTcp, RawWs, sleep, startServer, tcpClient, wsClient } from './helpers.js';

let h: Harness;
before(async () => {
  h = await startServer({ limits: { max_channels: 3 } });
});
after(() => h.stop());

describe('one router across transports', () => {
  test('a TCP publish reaches WebSocket subscribers and back, bytes unchanged', async () => {
    const ws = await wsClient(h);
    const tcp = await tcpClient(h);
    const wsInbox = new Inbox<Publication>();
    const tcpInbox = new Inbox<Publication>();
    await ws.subscribe('x:1', wsInbox.push);
    await tcp.subscribe('x:1', tcpInbox.push);
    const bytes = Buffer.from([0, 255, 1, 254, 0x80]);
    await tcp.publish('x:1', bytes);
    await ws.publish('x:1', 'from ws');
    const [fromTcp, fromWs] = await wsInbox.waitFor(2);
    assert.ok(fromTcp !== undefined && fromWs !== undefined);
    assert.deepEqual(Buffer.from(fromTcp.payload), bytes);
    assert.equal(Buffer.from(fromWs.payload).toString(), 'from ws');
    const tcpGot = await tcpInbox.waitFor(2);
    assert.deepEqual(Buffer.from(at(tcpGot, 0).payload), bytes);
    await ws.close();
    await tcp.close();
  });

  test('TCP: connected on open, ping/pong, several frames per segment', async () => {
    const raw = await RawTcp.open(h.tcpPort);
    assert.equal(at(raw.frames.items, 0).type, 'connected');
    raw.send({ type: 'ping', timestamp: 5 });
    assert.deepEqual((await raw.frames.waitFor(2))[1], { type: 'pong', timestamp: 5 });
    raw.socket.end();
    await raw.closed;
  });

  test('TCP: an over-cap length prefix gets error 1007 and the connection is closed', async () => {
    const raw = await RawTcp.open(h.tcpPort);
    raw.socket.write(Buffer.from([0xff, 0xff, 0xff, 0xff]));
    const [, err] = await raw.frames.waitFor(2);
    assert.ok(err !== undefined);
    assert.equal(err.type, 'error');
    assert.equal((err as { code: number }).code, 1007);
    await raw.closed;
  });

  test('max_channels: a subscription that would create one channel too many gets 1006', async () => {
    const c = await wsClient(h);
    const d = await wsClient(h);
    await c.subscribe('mc:1', () => {});
    await c.subscribe('mc:2', () => {});
    await c.subscribe('mc:3', () => {});
    await assert.rejects(
      d.subscribe('mc:4', () => {}),
      { code: 1006 },
    );
    await d.subscribe('mc:1', () => {}); // existing channels stay open to new subscribers
    await c.close();
    await d.close();
  });
});

describe('WebSocket conformance', () => {
  test('answers WebSocket pings, echoes the close code, rejects unmasked frames with 1002', async () => {
    const ws = new WebSocket(h.wsUrl);
    await once(ws, 'open');
    ws.ping(Buffer.from('hello'));
    const [pong] = await once(ws, 'pong');
    assert.equal(String(pong), 'hello');
    ws.close(4001, 'bye');
    const [code] = await once(ws, 'close');
    assert.equal(code, 4001);

    const socket = connect(Number(new URL(h.wsUrl).port), '127.0.0.1');
    await once(socket, 'connect');
    socket.write(
      'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    const chunks: Buffer[] = [];
    socket.on('data', (c) => chunks.push(c));
    await sleep(50);
    assert.match(Buffer.concat(chunks).toString('latin1'), /^HTTP\/1.1 101 .*s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/s);
    socket.write(Buffer.from([0x82, 0x01, 0x00])); // unmasked binary frame
    await once(socket, 'close');
    const all = Buffer.concat(chunks);
    const closeAt = all.lastIndexOf(Buffer.from([0x88]));
    assert.ok(closeAt > 0, 'a close frame was sent');
    assert.equal(all.readUInt16BE(closeAt + 2), 1002);
  });

  test('a fragmented binary message is reassembled', async () => {
    const raw = await RawWs.open(h.wsUrl);
    const ping = encodeFrame({ type: 'ping', timestamp: 77 });
    raw.ws.send(ping.subarray(0, 5), { fin: false, binary: true });
    raw.ws.send(ping.subarray(5), { fin: true, binary: true });
    assert.deepEqual(await raw.frame(1), { type: 'pong', timestamp: 77 });
    raw.ws.close();
  });

  test('HTTP: unknown upgrade path is 404, bad handshake is 400, plain GET /ws is 426', async () => {
    const base = h.wsUrl.replace('/ws', '');
    const bad = new WebSocket(`${base}/nope`);
    bad.on('error', () => {});
    const [, res] = await once(bad, 'unexpected-response');
    assert.equal(res.statusCode, 404);
    bad.terminate();
    const plain = await fetch(h.httpUrl + '/ws');
    assert.equal(plain.status, 426);
    const socket = connect(Number(new URL(h.wsUrl).port), '127.0.0.1');
    await once(socket, 'connect');
    socket.write(
      'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\n\r\n',
    );
    const [reply] = await once(socket, 'data');
    assert.match(String(reply), /^HTTP\/1.1 400/);
    socket.destroy();
  });
});
