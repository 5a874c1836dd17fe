import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { at } from '@pulse/protocol/test/element';
import { NatsSink } from '../src/dialects/nats.js';
import { EngineIoSink } from '../src/dialects/socketio.js';
import type { DialectConn, Tally } from '../src/generator/dialect.js';
import { findStamp, LatencySamples, markedPayload, nowMicros, writeStamp } from '../src/generator/marker.js';
import { MessageSampler } from '../src/generator/message-sinks.js';

function fakeConn(): DialectConn & { sent: string[] } {
  const sent: string[] = [];
  return {
    role: 'subscriber',
    channel: 'c',
    setupStep: 0,
    count: 0,
    sent,
    sendMessage: (_opcode, payload) => sent.push(payload.toString()),
  };
}

/** Feeds `bytes` to a sink as one message, cut into pieces of `step` bytes. */
function feed(
  sink: { bytes(c: Buffer, s: number, e: number): void; end(): void },
  bytes: Buffer,
  step: number,
) {
  for (let i = 0; i < bytes.length; i += step) sink.bytes(bytes, i, Math.min(bytes.length, i + step));
  sink.end();
}

function stamped(size: number, micros: number): Buffer {
  const p = markedPayload(size);
  writeStamp(p, 0, micros);
  return p;
}

describe('marker', () => {
  it('round-trips a stamp anywhere in a message', () => {
    const msg = Buffer.concat([Buffer.from('42["msg","'), stamped(64, 1234567890123), Buffer.from('"]')]);
    assert.equal(findStamp(msg, 0, msg.length), 1234567890123);
    assert.equal(findStamp(Buffer.from('@@12'), 0, 4), -1);
  });
});

describe('NatsSink', () => {
  const body = stamped(64, 42);
  const stream = Buffer.concat([
    Buffer.from('INFO {"server_id":"x"}\r\n'),
    ...Array.from({ length: 5 }, () =>
      Buffer.concat([Buffer.from('MSG chan 1 64\r\n'), body, Buffer.from('\r\n')]),
    ),
    Buffer.from('PING\r\n'),
    Buffer.from('HMSG chan 1 12 76\r\nNATS/1.0\r\n\r\n'),
    body,
    Buffer.from('\r\n+OK\r\nMSG chan 1 _INBOX.x 64\r\n'),
    body,
    Buffer.from('\r\n'),
  ]);

  it('counts MSG and HMSG however the frames cut the stream, and answers PING', () => {
    for (const step of [1, 5, 13, 64, 80, stream.length]) {
      const conn = fakeConn();
      const tally: Tally = { delivered: 0, closed: 0 };
      const samples = new LatencySamples();
      feed(new NatsSink(conn, tally, samples), stream, step);
      assert.equal(conn.count, 7, `step ${step}`);
      assert.equal(tally.delivered, 7);
      assert.deepEqual(conn.sent, ['PONG\r\n']);
      assert.equal(samples.length, 7);
    }
  });

  it('reports -ERR', () => {
    assert.throws(
      () => feed(new NatsSink(fakeConn(), { delivered: 0, closed: 0 }, null), Buffer.from("-ERR 'x'\r\n"), 3),
      /-ERR/,
    );
  });
});

describe('EngineIoSink', () => {
  it('counts events, answers pings, ignores the rest', () => {
    const conn = fakeConn();
    const tally: Tally = { delivered: 0, closed: 0 };
    const sink = new EngineIoSink(conn, tally, null);
    for (const step of [1, 2, 100]) {
      feed(sink, Buffer.from(`42["msg","${'x'.repeat(64)}"]`), step);
      feed(sink, Buffer.from('2'), step);
      feed(sink, Buffer.from('40{"sid":"abc"}'), step);
      feed(sink, Buffer.from('431[]'), step);
    }
    assert.equal(conn.count, 3);
    assert.equal(tally.delivered, 3);
    assert.deepEqual(conn.sent, ['3', '3', '3']);
  });

  it('samples latency from the payload text', () => {
    const samples = new LatencySamples();
    const sink = new EngineIoSink(fakeConn(), { delivered: 0, closed: 0 }, samples);
    feed(sink, Buffer.from(`42["msg","${stamped(64, nowMicros() - 500).toString('latin1')}"]`), 7);
    assert.equal(samples.length, 1);
    assert.ok(at(samples.toArray(), 0) >= 500);
  });
});

describe('MessageSampler', () => {
  it('counts every message and records the latency of stamped ones', () => {
    const conn = fakeConn();
    const samples = new LatencySamples();
    const sink = new MessageSampler(conn, { delivered: 0, closed: 0 }, samples);
    feed(sink, stamped(64, nowMicros()), 10);
    feed(sink, Buffer.from('no marker'), 10);
    assert.equal(conn.count, 2);
    assert.equal(samples.length, 1);
  });
});
