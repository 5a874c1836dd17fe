import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { PulseClient, openHttpStream } from '@pulse/client';
import { type Harness, Inbox, sleep, startServer, wsClient } from './helpers.js';
import { type Answer, RawHttpStream, dribble, framed, post } from './http-stream-raw.js';
import { seededRandom } from './seeded-random.js';

const SEED = Number(process.env.PULSE_FUZZ_SEED ?? Date.now() % 1_000_000);
const random = seededRandom(SEED);
const int = (n: number) => Math.floor(random() * n);
const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));

let h: Harness;
before(async () => {
  h = await startServer({
    history: [{ pattern: 'steady', size: 10_000, ttl_ms: 0 }],
    limits: { max_http_body_bytes: 65_536, http_body_timeout_ms: 400 },
  });
});
after(() => h.stop());

/** One hostile body for a session (or for none). */
function hostileBody(): Buffer {
  const ping = framed({ type: 'ping' });
  const publish = framed({ type: 'publish', channel: 'hostile', payload: bytes(int(200)) });
  switch (int(7)) {
    case 0:
      return bytes(int(2000));
    case 1: // valid frames, the last cut short
      return Buffer.concat([ping, publish.subarray(0, 1 + int(publish.length - 1))]);
    case 2: {
      const prefix = Buffer.alloc(4 + int(8));
      prefix.writeUInt32BE(int(2) ? 0xffffffff : 65_536 + int(16_000_000), 0);
      return prefix;
    }
    case 3: {
      // A length prefix that is right around a body that is not MessagePack (or not a frame).
      const body = bytes(1 + int(100));
      const out = Buffer.alloc(4 + body.length);
      out.writeUInt32BE(body.length, 0);
      body.copy(out, 4);
      return Buffer.concat([out, ping]);
    }
    case 4:
      return Buffer.concat([framed({ type: 'subscribe', id: 1, channel: 'steady' }), publish, ping]);
    case 5:
      return Buffer.alloc(70_000); // over limits.max_http_body_bytes
    default:
      return Buffer.alloc(0);
  }
}

/** How often each answer was seen: the fuzz must have reached every kind of refusal. */
const statuses = new Map<number, number>();

async function hostileSession(): Promise<void> {
  const s = await RawHttpStream.open(h.httpUrl, int(2) === 1);
  const url = `${h.httpUrl}/connection/send`;
  const header = { 'pulse-session': s.session };
  const answers: Promise<Answer>[] = [];
  for (let i = 0, n = 1 + int(6); i < n; i++) {
    switch (int(6)) {
      case 0: // dribbled past limits.http_body_timeout_ms
        answers.push(
          dribble(url, [framed({ type: 'ping' }), bytes(3), bytes(3), bytes(3)], 200, header).answer,
        );
        break;
      case 1: {
        // A content-length it never sends in full, then gone.
        const d = dribble(url, [bytes(10)], 10, { ...header, 'content-length': '1000' });
        setTimeout(() => d.req.destroy(), 30);
        answers.push(d.answer);
        break;
      }
      case 2: // a burst of concurrent POSTs, more than may wait
        for (let j = 0; j < 20; j++) answers.push(s.post(hostileBody()));
        break;
      case 3: // someone else's session, guessed
        answers.push(post(url, hostileBody(), { 'pulse-session': randomBytes(18).toString('base64url') }));
        break;
      default:
        answers.push(s.post(hostileBody()));
    }
  }
  for (const a of await Promise.all(answers)) {
    statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
    assert.ok(
      [0, 204, 400, 404, 408, 410, 413, 429, 503].includes(a.status),
      `status ${a.status}: ${a.body}`,
    );
  }
  if (int(2)) s.close();
  else await Promise.race([s.ended, sleep(200)]).then(() => s.close());
}

test(`HTTP streaming fuzz (seed ${SEED}): hostile POST bodies; a WebSocket bystander loses nothing`, async () => {
  const subscriber = await wsClient(h);
  const publisher = await wsClient(h);
  const got = new Inbox<number>();
  await subscriber.subscribe('steady', (p) => got.push(Number(Buffer.from(p.payload).toString())));
  let published = 0;
  let fuzzing = true;
  const steady = (async () => {
    while (fuzzing) {
      await publisher.publish('steady', `${++published}`, { ack: true });
      await sleep(2);
    }
  })();
  // One slow body on a session of its own, so that the fuzz reaches the body timeout whatever its
  // seed (the random ones may end sooner: a random length prefix, a session closed meanwhile).
  const slow = await RawHttpStream.open(h.httpUrl, false);
  const ping = framed({ type: 'ping' });
  const pieces = [ping.subarray(0, 2), ping.subarray(2, 4), ping.subarray(4)];
  const timedOut = await dribble(`${h.httpUrl}/connection/send`, pieces, 300, {
    'pulse-session': slow.session,
  }).answer;
  statuses.set(timedOut.status, (statuses.get(timedOut.status) ?? 0) + 1);
  assert.equal(timedOut.status, 408);
  slow.close();
  const started = Date.now();
  let sessions = 0;
  while (Date.now() - started < 6000) {
    await Promise.all(Array.from({ length: 8 }, () => hostileSession()));
    sessions += 8;
  }
  fuzzing = false;
  await steady;
  const items = await got.waitFor(published, 10_000);
  assert.deepEqual(
    items,
    Array.from({ length: published }, (_, i) => i + 1),
    'the bystander got every publication, in order',
  );
  assert.ok(sessions >= 40, `${sessions} hostile sessions`);
  for (const status of [204, 400, 404, 408, 413, 429]) {
    assert.ok((statuses.get(status) ?? 0) > 0, `no ${status} among ${JSON.stringify([...statuses])}`);
  }

  // Every hostile session is gone, and nothing they sent is still held.
  const deadline = Date.now() + 5000;
  while (h.server.connectionCount > 2 && Date.now() < deadline) await sleep(20);
  assert.equal(h.server.connectionCount, 2);
  assert.equal(h.server.inputBudget.held, 0);
  assert.deepEqual(
    [...h.server.faults.counts.values()].reduce((a, b) => a + b, 0),
    0,
    'no exception escaped',
  );

  // The server still serves HTTP streaming clients.
  const fresh = await PulseClient.over(await openHttpStream(h.httpUrl));
  const inbox = new Inbox<string>();
  await fresh.subscribe('after', (p) => inbox.push(Buffer.from(p.payload).toString()));
  await publisher.publish('after', 'still up');
  assert.deepEqual(await inbox.waitFor(1), ['still up']);
  await fresh.close();
  await subscriber.close();
  await publisher.close();
});
