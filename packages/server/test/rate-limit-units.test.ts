import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import mqttPacket from 'mqtt-packet';
import { ConnectionLimiter } from '../src/limits/connection-limiter.js';
import { IpLimiter, ipKey } from '../src/limits/ip-limiter.js';
import { connectLevel } from '../src/mqtt/mqtt-connect-refusal.js';
import { RateLimitStats } from '../src/limits/rate-limit-stats.js';
import { TokenBucket } from '../src/limits/token-bucket.js';

describe('TokenBucket', () => {
  test('starts full: a burst of one second of the rate, then nothing', () => {
    const b = new TokenBucket(5, 1000);
    for (let i = 0; i < 5; i++) assert.ok(b.tryTake(1, 1000), `token ${i + 1}`);
    assert.equal(b.tryTake(1, 1000), false);
    assert.equal(b.tokens, 0);
  });

  test('refills continuously, in proportion to the time passed', () => {
    const b = new TokenBucket(10, 0);
    for (let i = 0; i < 10; i++) b.tryTake(1, 0);
    assert.equal(b.tryTake(1, 50), false, '50 ms = half a token');
    assert.ok(b.tryTake(1, 100), '100 ms = one token');
    assert.equal(b.tryTake(1, 100), false);
    assert.ok(b.tryTake(3, 400), '300 ms more = three tokens');
  });

  test('never holds more than its capacity, however long it waited', () => {
    const b = new TokenBucket(4, 0);
    b.tryTake(4, 0);
    b.refill(1_000_000);
    assert.equal(b.tokens, 4);
    assert.ok(b.isFull(1_000_000));
  });

  test('a time before the last refill (an older reading) adds nothing and takes nothing back', () => {
    const b = new TokenBucket(10, 0);
    b.tryTake(10, 0);
    b.refill(500);
    assert.equal(b.tokens, 5);
    b.refill(200);
    assert.equal(b.tokens, 5);
    b.refill(600);
    assert.equal(b.tokens, 6, 'counted from 500, not from 200');
  });

  test('tryTake takes all or nothing', () => {
    const b = new TokenBucket(10, 0);
    assert.equal(b.tryTake(11, 0), false);
    assert.equal(b.tokens, 10);
  });

  test('charge goes into debt, at most one capacity deep, and is paid back over time', () => {
    const b = new TokenBucket(1000, 0);
    b.charge(1500, 0);
    assert.equal(b.tokens, -500);
    b.charge(1_000_000, 0);
    assert.equal(b.tokens, -1000, 'debt is capped at one second of the rate');
    b.refill(1000);
    assert.equal(b.tokens, 0);
    assert.equal(b.isFull(1500), false);
    assert.ok(b.isFull(2000));
  });

  test('a rate of one per second: the next token a second later', () => {
    const b = new TokenBucket(1, 0);
    assert.ok(b.tryTake(1, 0));
    assert.equal(b.tryTake(1, 999), false);
    assert.ok(b.tryTake(1, 1000));
  });
});

function limiter(messagesPerSecond: number, bytesPerSecond: number, disconnectAfter = 3) {
  const stats = new RateLimitStats();
  return {
    stats,
    limiter: new ConnectionLimiter({ messagesPerSecond, bytesPerSecond, disconnectAfter, stats }),
  };
}

describe('ConnectionLimiter', () => {
  test('admits up to the rate, then names the limit', () => {
    const { limiter: l } = limiter(3, 0);
    l.received(10);
    assert.equal(l.admit(), undefined);
    assert.equal(l.admit(), undefined);
    assert.equal(l.admit(), undefined);
    assert.equal(l.admit(), 'messages');
  });

  test('messages of one chunk are judged at the time it was read; the next chunk sees the time passed', () => {
    const { limiter: l } = limiter(10, 0);
    const t = performance.now();
    l.received(1, t);
    for (let i = 0; i < 10; i++) assert.equal(l.admit(), undefined);
    assert.equal(l.admit(), 'messages');
    l.received(1, t + 50);
    assert.equal(l.admit(), 'messages', 'half a token');
    l.received(1, t + 150);
    assert.equal(l.admit(), undefined, 'one and a half tokens');
    assert.equal(l.admit(), 'messages');
  });

  test('counts limited messages in a row; one admitted resets the count', () => {
    const { limiter: l } = limiter(1, 0, 2);
    const t = performance.now();
    l.received(1, t);
    assert.equal(l.admit(), undefined);
    assert.equal(l.admit(), 'messages');
    assert.equal(l.exhausted, false);
    l.received(1, t + 1500);
    assert.equal(l.admit(), undefined);
    assert.equal(l.admit(), 'messages');
    assert.equal(l.exhausted, false, 'the admitted message reset the count');
    assert.equal(l.admit(), 'messages');
    assert.equal(l.exhausted, true);
  });

  test('bytes: over the budget every message is refused (taking no message token) until the debt is paid', () => {
    const { limiter: l, stats } = limiter(2, 1000);
    const t = performance.now();
    l.received(900, t);
    assert.equal(l.admit(), undefined, '900 of 1000 bytes');
    l.received(300, t);
    assert.equal(l.admit(), 'bytes', '1200 of 1000 bytes');
    assert.equal(l.admit(), 'bytes');
    l.received(0, t + 250); // 250 bytes back: 50 ahead
    assert.equal(l.admit(), undefined, 'the message token was not spent while over bytes');
    assert.equal(l.admit(), 'messages');
    l.countLimited('json', 'bytes');
    l.countDisconnect('json');
    assert.deepEqual(stats.limited.json, { messages: 0, bytes: 1 });
    assert.equal(stats.disconnects.json, 1);
  });

  test('describe names the configured rate', () => {
    const { limiter: l } = limiter(7, 9);
    assert.equal(l.describe('messages'), 'over 7 messages per second');
    assert.equal(l.describe('bytes'), 'over 9 bytes per second');
  });
});

describe('IpLimiter', () => {
  test('max open connections per address, released on close', () => {
    const ip = new IpLimiter(0, 2);
    assert.equal(ip.admit('a', 0), undefined);
    assert.equal(ip.admit('a', 0), undefined);
    assert.equal(ip.admit('a', 0), 'ip_max');
    assert.equal(ip.admit('b', 0), undefined, 'another address has its own count');
    ip.release('a', 0);
    assert.equal(ip.admit('a', 0), undefined);
  });

  test('new connections per second per address, refilled over time', () => {
    const ip = new IpLimiter(2, 0);
    assert.equal(ip.admit('a', 0), undefined);
    assert.equal(ip.admit('a', 0), undefined);
    assert.equal(ip.admit('a', 0), 'ip_rate');
    assert.equal(ip.admit('a', 499), 'ip_rate');
    assert.equal(ip.admit('a', 500), undefined);
  });

  test('a refusal for ip_max takes no connection token', () => {
    const ip = new IpLimiter(2, 1);
    assert.equal(ip.admit('a', 0), undefined);
    assert.equal(ip.admit('a', 0), 'ip_max');
    assert.equal(ip.admit('a', 0), 'ip_max');
    ip.release('a', 0);
    assert.equal(ip.admit('a', 0), undefined, 'the second token is still there');
  });

  test('an address with no connection and a full bucket is forgotten', () => {
    const ip = new IpLimiter(0, 5);
    ip.admit('a', 0);
    assert.equal(ip.size, 1);
    ip.release('a', 0);
    assert.equal(ip.size, 0, 'no rate limit: forgotten at the last close');
    const rated = new IpLimiter(10, 0);
    rated.admit('a', 0);
    rated.release('a', 0);
    assert.equal(rated.size, 1, 'its bucket is refilling');
    rated.sweep(100);
    assert.equal(rated.size, 0, 'refilled after 100 ms, dropped by the sweep');
  });

  test('memory is bounded: idle addresses past the cap are evicted, oldest first', () => {
    const ip = new IpLimiter(1, 0, 100);
    for (let i = 0; i < 10_000; i++) {
      const key = `10.0.${i >> 8}.${i & 255}`;
      assert.equal(ip.admit(key, 0), undefined);
      ip.release(key, 0);
    }
    assert.ok(ip.size <= 100, `${ip.size} addresses kept`);
  });

  test('addresses with open connections are never evicted', () => {
    const ip = new IpLimiter(1, 1, 10);
    for (let i = 0; i < 50; i++) assert.equal(ip.admit(`open-${i}`, 0), undefined);
    assert.equal(ip.size, 50);
    for (let i = 0; i < 50; i++) assert.equal(ip.admit(`open-${i}`, 0), 'ip_max', `open-${i} still counted`);
  });

  test('ipKey: an IPv4-mapped IPv6 address is its IPv4 address', () => {
    assert.equal(ipKey('::ffff:127.0.0.1'), '127.0.0.1');
    assert.equal(ipKey('127.0.0.1'), '127.0.0.1');
    assert.equal(ipKey('::1'), '::1');
    assert.equal(ipKey('::ffff:abcd'), '::ffff:abcd');
    assert.equal(ipKey(undefined), '');
  });
});

describe('connectLevel (refused MQTT connections)', () => {
  const connect = (protocolVersion: 3 | 4 | 5) =>
    mqttPacket.generate(
      {
        cmd: 'connect',
        protocolId: protocolVersion === 3 ? 'MQIsdp' : 'MQTT',
        protocolVersion,
        clientId: 'x'.repeat(200),
        clean: true,
        keepalive: 0,
      },
      { protocolVersion },
    );

  test('reads the protocol level of 3.1, 3.1.1 and 5 CONNECTs (two-byte remaining length too)', () => {
    assert.equal(connectLevel(connect(3)), 3);
    assert.equal(connectLevel(connect(4)), 4);
    assert.equal(connectLevel(connect(5)), 5);
  });

  test('asks for more bytes, and knows what is not a CONNECT', () => {
    const c = connect(5);
    for (let n = 0; n < 10; n++) assert.equal(connectLevel(c.subarray(0, n)), undefined, `${n} bytes`);
    assert.equal(connectLevel(Buffer.from([0x30, 0, 0])), -1);
    assert.equal(connectLevel(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f])), -1);
    assert.equal(connectLevel(Buffer.from('GET / HTTP/1.1\r\n')), -1);
  });
});
