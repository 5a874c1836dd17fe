import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { NativeTcp } from './auth-helpers.js';
import { type Harness, RawWs, metricValue, scrape, sleep, startServer } from './helpers.js';
import type { FaultSite } from '../src/transport/connection-faults.js';

// biome-ignore lint/suspicious/noExplicitAny: frames and log lines are checked field by field
type Json = Record<string, any>;

/**
 * The server's documented fault probe (PulseServerOptions.faultProbe) throws at the sites and
 * for the connections a test arms: a stand-in for a bug in that callback.
 */
class Faults {
  private readonly armed = new Set<string>();
  readonly probe = (where: FaultSite, label: string): void => {
    if (this.armed.delete(`${where} ${label}`)) throw new Error(`injected fault in ${where}`);
  };
  arm(where: FaultSite, label: string): void {
    this.armed.add(`${where} ${label}`);
  }
}

async function connected(port: number): Promise<{ c: NativeTcp; id: string }> {
  const c = await NativeTcp.open(port);
  const hello = (await c.next()) as Json;
  return { c, id: hello.connection_id };
}

/** A bystander pair that must keep working: one publishes, the other receives, in order. */
async function assertPairWorks(h: Harness, round: number): Promise<void> {
  const sub = await RawWs.open(h.wsUrl);
  sub.send({ type: 'subscribe', id: 1, channel: `bystanders/${round}` });
  await sub.frame(1);
  const { c: pub } = await connected(h.tcpPort);
  for (let i = 0; i < 20; i++)
    pub.send({ type: 'publish', channel: `bystanders/${round}`, payload: Buffer.from([i]) });
  const got = (await sub.frames.waitFor(22)).slice(2).map((f) => (f as Json).payload[0]);
  assert.deepEqual(
    got,
    Array.from({ length: 20 }, (_, i) => i),
  );
  sub.ws.close();
  pub.destroy();
}

async function untilConnections(h: Harness, n: number): Promise<void> {
  for (let i = 0; i < 200 && h.server.connectionCount !== n; i++) await sleep(10);
  assert.equal(h.server.connectionCount, n);
}

const errorsAt = async (h: Harness, where: FaultSite) =>
  metricValue(await scrape(h), `pulse_connection_errors_total{where="${where}"}`);

describe('an exception in a connection callback closes that connection only', () => {
  let h: Harness;
  const faults = new Faults();
  const lines: Json[] = [];
  before(async () => {
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
        done();
      },
    });
    h = await startServer(
      { heartbeat: { interval_ms: 100, timeout_ms: 60_000 } },
      { logger: pino({ level: 'error' }, sink), faultProbe: faults.probe },
    );
  });
  after(() => h.stop());

  test('in the data listener: the victim is closed, logged with its id and counted; others carry on', async () => {
    const { c: victim, id } = await connected(h.tcpPort);
    const { c: other } = await connected(h.tcpPort);
    faults.arm('data', id);
    victim.send({ type: 'ping' });
    await victim.expectClosed();
    other.send({ type: 'ping', timestamp: 1 });
    assert.deepEqual(await other.next(), { type: 'pong', timestamp: 1 });
    assert.equal(await errorsAt(h, 'data'), 1);
    const line = lines.find((l) => l.where === 'data');
    assert.equal(line?.connection, id);
    assert.match(line?.msg ?? '', new RegExp(`connection ${id} failed in data; it was closed`));
    await assertPairWorks(h, 1);
    other.destroy();
  });

  test('in the close listener (the automatic leave of issue 9): the connection is still untracked, the process lives', async () => {
    await untilConnections(h, 0);
    const { c: victim, id } = await connected(h.tcpPort);
    victim.send({ type: 'presence', id: 1, channel: 'lobby', action: 0 });
    await victim.expectAck(1);
    assert.equal(h.server.connectionCount, 1);
    faults.arm('close', id);
    victim.destroy();
    await untilConnections(h, 0);
    assert.equal(await errorsAt(h, 'close'), 1);
    await assertPairWorks(h, 2);
  });

  test('in a timer (the heartbeat ping): the victim is closed; silent bystanders are pinged as usual', async () => {
    const { c: victim, id } = await connected(h.tcpPort);
    const { c: other } = await connected(h.tcpPort);
    faults.arm('timer', id);
    await victim.expectClosed();
    // The bystander got its ping (NativeTcp.next skips pings: look at the raw list).
    await other.frames.waitFor(2);
    assert.equal(at(other.frames.items, 1).type, 'ping');
    assert.equal(other.isClosed, false);
    assert.ok((await errorsAt(h, 'timer')) >= 1);
    other.destroy();
  });

  test('while a connection is accepted: that socket is closed, the next one is served', async () => {
    faults.arm('accept', '127.0.0.1');
    const refused = await NativeTcp.open(h.tcpPort);
    await refused.expectClosed();
    const { c, id } = await connected(h.tcpPort);
    assert.equal(typeof id, 'string');
    assert.equal(await errorsAt(h, 'accept'), 1);
    c.destroy();
  });
});

test('two servers in one process: each logs and counts its own connections faults only', async () => {
  const logOf = (lines: Json[]) =>
    pino(
      { level: 'error' },
      new Writable({
        write(chunk, _enc, done) {
          for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
          done();
        },
      }),
    );
  const linesA: Json[] = [];
  const linesB: Json[] = [];
  const [faultsA, faultsB] = [new Faults(), new Faults()];
  // B is made after A: a reporter kept in a module would now be B's for both.
  const a = await startServer({}, { logger: logOf(linesA), faultProbe: faultsA.probe });
  const b = await startServer({}, { logger: logOf(linesB), faultProbe: faultsB.probe });
  try {
    const { c: victimA, id: idA } = await connected(a.tcpPort);
    const { c: victimB, id: idB } = await connected(b.tcpPort);
    faultsA.arm('data', idA);
    faultsB.arm('data', idB);
    victimA.send({ type: 'ping' });
    await victimA.expectClosed();
    assert.deepEqual(
      linesA.map((l) => l.connection),
      [idA],
    );
    assert.equal(linesB.length, 0, 'B logged nothing of A');
    assert.equal(await errorsAt(a, 'data'), 1);
    assert.equal(await errorsAt(b, 'data'), 0);
    victimB.send({ type: 'ping' });
    await victimB.expectClosed();
    assert.deepEqual(
      linesB.map((l) => l.connection),
      [idB],
    );
    assert.equal(linesA.length, 1);
    assert.equal(await errorsAt(b, 'data'), 1);
    assert.equal(await errorsAt(a, 'data'), 1);
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
});
