import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { IConnackPacket } from 'mqtt-packet';
import { hashPassword } from '../src/auth/passwords.js';
import { JsonClient, NativeTcp, SECRET, now, sign, token } from './auth-helpers.js';
import { metricValue, scrape } from './helpers.js';
import { type MqttHarness, RawMqtt, connectPacket, startMqtt } from './mqtt-helpers.js';
import { seededRandom } from './seeded-random.js';

const b64url = (value: unknown) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** Garbage and near-misses: random text, mutated valid tokens, alg none, wrong claim types, huge ones. */
async function badTokens(n: number, seed: number): Promise<string[]> {
  const random = seededRandom(seed);
  const pick = <T>(list: T[]) => list[Math.floor(random() * list.length)];
  const valid = await token('fuzz', ['a/#']);
  const fixed = [
    '',
    '.',
    '..',
    'a.b.c',
    `${b64url({ alg: 'none' })}.${b64url({ sub: 'x' })}.`,
    `${b64url({ alg: 'HS256' })}.${b64url({ sub: 'x' })}.`,
    `${b64url({ alg: 123 })}.${b64url({ sub: 'x' })}.sig`,
    `${b64url('not json')}.${b64url({ sub: 'x' })}.sig`,
    `${b64url({ alg: 'HS256' })}.${b64url('[1,2]')}.${valid.split('.')[2]}`,
    await sign({ sub: 'x', exp: now() + 60, channels: 'a/#' }),
    await sign({ sub: 'x', exp: now() + 60, channels: ['a/#/b'] }),
    await sign({ sub: 42 as unknown as string, exp: now() + 60 }),
    await sign({ sub: 'x', exp: 'soon' as unknown as number }),
    await sign({ sub: 'x', exp: now() - 1 }),
    'x'.repeat(70_000),
    `${valid}.extra`,
    valid.slice(0, -1),
    '\u0000\uffff\ud800',
  ];
  const out = [...fixed];
  while (out.length < n) {
    const kind = random();
    if (kind < 0.3) {
      out.push(
        randomBytes(1 + Math.floor(random() * 200)).toString(pick(['base64', 'base64url', 'hex', 'latin1'])),
      );
    } else if (kind < 0.8) {
      // One to three characters of a valid token changed.
      const chars = [...valid];
      const changes = 1 + Math.floor(random() * 3);
      for (let i = 0; i < changes; i++) {
        const at = Math.floor(random() * chars.length);
        const next = pick([...'ABCxyz019-_.']);
        chars[at] = chars[at] === next ? 'Q' : (next as string); // pick() from a non-empty list
      }
      out.push(chars.join(''));
    } else {
      const parts = valid.split('.');
      out.push(
        [pick(parts), pick(parts), pick(parts)].slice(0, 1 + Math.floor(random() * 3)).join('.') +
          pick(['', '.', '..', '=']),
      );
    }
  }
  return out.filter((t) => t !== valid);
}

describe('auth fuzz: garbage tokens and passwords', () => {
  let h: MqttHarness;
  let tokens: string[];
  before(async () => {
    h = await startMqtt({
      auth: {
        enabled: true,
        jwt_hmac_secret: SECRET,
        users: [{ username: 'known', password_hash: await hashPassword('right'), password: '' }],
        acl: [{ username: '*', action: 'all', topic_filter: 'a/#' }],
      },
    });
    tokens = await badTokens(300, 1234);
  });
  after(() => h.stop());

  test('native: every bad token gets 1003 and a close', async () => {
    for (let i = 0; i < tokens.length; i += 25) {
      await Promise.all(
        tokens.slice(i, i + 25).map(async (t) => {
          const { c, reply } = await NativeTcp.connect(h.tcpPort, t);
          assert.equal((reply as { code?: number }).code, 1003, `token ${JSON.stringify(t.slice(0, 80))}`);
          await c.expectClosed();
        }),
      );
    }
  });

  test('native: tokens of the wrong type are invalid frames (1001), never a crash', async () => {
    for (const t of [42, true, { a: 1 }, [1], Buffer.from('abc')]) {
      const c = await NativeTcp.open(h.tcpPort);
      c.send({ type: 'connect', version: 1, token: t });
      await c.expectError(1001);
      c.destroy();
    }
  });

  test('JSON: every bad token gets 401 on one socket, which stays usable', async () => {
    const c = await JsonClient.open(h.wsUrl);
    for (const t of tokens) {
      assert.equal(await c.code('connect', { token: t }), 401, `token ${JSON.stringify(t.slice(0, 80))}`);
    }
    for (const t of [42, null, { a: 1 }, ['x']]) {
      const code = await c.code('connect', { token: t });
      assert.ok(code === 400 || code === 401, `token ${JSON.stringify(t)}: ${code}`);
    }
    assert.equal((await c.ok('connect', { token: await token('fuzz') })).connected, true);
    c.close();
  });

  test('MQTT: every bad password (JWT-like or not, any user name) gets 0x86 (3.1.1: 4)', async () => {
    const random = seededRandom(99);
    const passwords: Buffer[] = [
      // (MQTT strings stop at 65535 bytes.)
      ...tokens
        .filter((t) => Buffer.byteLength(t) < 65_535)
        .slice(0, 80)
        .map((t) => Buffer.from(t)),
      ...Array.from({ length: 20 }, () => randomBytes(Math.floor(random() * 64))),
    ];
    for (let i = 0; i < passwords.length; i += 20) {
      await Promise.all(
        passwords.slice(i, i + 20).map(async (password, j) => {
          const version = (i + j) % 3 === 0 ? 4 : 5;
          const username = pickUser(i + j);
          const raw = await RawMqtt.open(h.mqttPort, version);
          raw.send(connectPacket(version, { username, password }));
          const connack = (await raw.next('connack', 10_000)) as IConnackPacket;
          assert.equal(
            version === 5 ? connack.reasonCode : connack.returnCode,
            version === 5 ? 0x86 : 4,
            `user ${username} password ${password.toString('hex').slice(0, 40)}`,
          );
          raw.destroy();
        }),
      );
    }
  });

  test('the server still works, and every failure was counted', async () => {
    const { c, reply } = await NativeTcp.connect(h.tcpPort, await token('fuzz', ['a/#']));
    assert.equal(reply.type, 'connected');
    c.send({ type: 'subscribe', id: 1, channel: 'a/b' });
    await c.expectAck(1);
    c.destroy();
    const ok = await RawMqtt.connect(h.mqttPort, 5, { username: 'known', password: Buffer.from('right') });
    ok.raw.destroy();
    const text = await scrape(h);
    let nativeFailures = 0;
    for (const line of text.split('\n')) {
      if (line.startsWith('pulse_auth_failures_total{protocol="native"'))
        nativeFailures += Number(line.split(' ')[1]);
    }
    assert.equal(nativeFailures, tokens.length);
    assert.ok(metricValue(text, 'pulse_auth_failures_total{protocol="mqtt",reason="malformed"}') > 0);
  });
});

function pickUser(i: number): string | undefined {
  return ['known', 'unknown', 'someone', 'known'][i % 4];
}
