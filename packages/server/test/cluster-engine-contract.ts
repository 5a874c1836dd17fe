import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ClusterEngine, EngineOptions, EngineState } from '../src/cluster/cluster-engine.js';

/** A real engine server (redis-server, nats-server) the tests start on a free port. */
export interface EngineServer {
  readonly url: string;
  /** Stops the process (SIGTERM), waiting for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port, waiting until it accepts connections (a no-op while it runs). */
  restart(): Promise<void>;
}

/** What an engine saw: every envelope, as text, and every state change. */
class Probe {
  readonly messages: string[] = [];
  readonly states: EngineState[] = [];
  private waiters: (() => void)[] = [];

  readonly listener = {
    message: (envelope: Uint8Array) => {
      this.messages.push(Buffer.from(envelope).toString('utf8'));
      this.wake();
    },
    state: (state: EngineState) => {
      this.states.push(state);
      this.wake();
    },
  };

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Waits until `done()` holds (checked after each event), at most `ms`. */
  async until(done: () => boolean, what: string, ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `timed out waiting for ${what}; messages: ${JSON.stringify(this.messages.slice(-10))}; states: ${this.states.join(',')}`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 100));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  has(text: string): boolean {
    return this.messages.includes(text);
  }
}

const bytes = (text: string) => Buffer.from(text, 'utf8');

/**
 * The one contract every ClusterEngine passes, against a real server. `makeEngine` builds an
 * engine for the given options (not started).
 */
export function engineContract(
  kind: string,
  startServer: () => Promise<EngineServer>,
  makeEngine: (options: EngineOptions) => ClusterEngine,
): void {
  describe(`cluster engine contract: ${kind}`, () => {
    let server: EngineServer;
    const open: ClusterEngine[] = [];
    let prefixes = 0;

    before(async () => {
      server = await startServer();
    });
    after(async () => {
      await Promise.all(open.map((e) => e.close()));
      await server.stop();
    });

    /** A started engine with its probe; each test gets its own prefix, so tests never see each other. */
    async function node(prefix: string, name: string, urls = [server.url]) {
      const engine = makeEngine({ urls, prefix, nodeName: name });
      open.push(engine);
      const probe = new Probe();
      await engine.start(probe.listener, true);
      assert.equal(engine.state, 'connected');
      return { engine, probe };
    }
    const freshPrefix = () => `contract${++prefixes}`;

    /** Publishes `marker` on `channel` from `from` and waits for `to` to get it: what came before has arrived. */
    async function fence(from: ClusterEngine, to: Probe, channel: string, marker: string) {
      assert.equal(from.publish(channel, bytes(marker)), true);
      await to.until(() => to.has(marker), marker);
    }

    test('a publication on a channel another node has interest in reaches it, bytes unchanged; other channels do not', async () => {
      const prefix = freshPrefix();
      const a = await node(prefix, 'a');
      const b = await node(prefix, 'b');
      const channels = [
        'chat:lobby',
        'a/b/c',
        'a.b/c',
        'x y',
        'ünï/cødé',
        'a//b',
        'star*',
        'gt>',
        '[glob]?',
        '$SYS/x',
      ];
      for (const c of channels) a.engine.addInterest(c);
      await new Promise((r) => setTimeout(r, 100));
      for (const c of channels) assert.equal(b.engine.publish(c, bytes(`on ${c}`)), true);
      // Near misses of each name: an exact interest brings nothing else.
      for (const c of ['chat:lobbyx', 'a/b/c/d', 'a/b.c', 'a.b.c', 'xy', 'a/b', 'starX', 'gt', 'g', 'x']) {
        assert.equal(b.engine.publish(c, bytes(`miss ${c}`)), true);
      }
      await fence(b.engine, a.probe, 'chat:lobby', 'fence');
      for (const c of channels) assert.ok(a.probe.has(`on ${c}`), `got ${c}`);
      assert.deepEqual(
        a.probe.messages.filter((m) => m.startsWith('miss')),
        [],
        'exact interest brings no other channel',
      );
      const binary = Buffer.from([0, 255, 1, 254, 0xc1, 0x80]);
      let got: Buffer | undefined;
      const c = await node(prefix, 'c');
      const d = makeEngine({ urls: [server.url], prefix, nodeName: 'd' });
      open.push(d);
      await d.start(
        {
          message: (e) => {
            got = Buffer.from(e);
          },
          state: () => {},
        },
        true,
      );
      d.addInterest('bin');
      await new Promise((r) => setTimeout(r, 100));
      c.engine.publish('bin', binary);
      const deadline = Date.now() + 3000;
      while (got === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(got, binary);
    });

    test('wildcard interest: + is one level, # is the rest (its parent included); a node gets each matching publication at least once', async () => {
      const prefix = freshPrefix();
      const a = await node(prefix, 'a');
      const b = await node(prefix, 'b');
      a.engine.addInterest('s/+/t');
      a.engine.addInterest('h/#');
      await new Promise((r) => setTimeout(r, 100));
      for (const c of ['s/k/t', 's/.x/t', 'h', 'h/1', 'h/1/2/3']) b.engine.publish(c, bytes(`on ${c}`));
      for (const c of ['s/t', 'hx', 'other']) b.engine.publish(c, bytes(`miss ${c}`));
      await fence(b.engine, a.probe, 'h/fence', 'fence');
      for (const c of ['s/k/t', 's/.x/t', 'h', 'h/1', 'h/1/2/3'])
        assert.ok(a.probe.has(`on ${c}`), `got ${c}`);
      for (const c of ['s/t', 'hx', 'other']) assert.ok(!a.probe.has(`miss ${c}`), `not ${c}`);
      const all = await node(prefix, 'all');
      all.engine.addInterest('#');
      await new Promise((r) => setTimeout(r, 100));
      b.engine.publish('any/thing', bytes('any'));
      b.engine.publish('top', bytes('top'));
      await all.probe.until(() => all.probe.has('any') && all.probe.has('top'), '# gets everything');
    });

    test('order: 2,000 publications from one node arrive in publish order', async () => {
      const prefix = freshPrefix();
      const a = await node(prefix, 'a');
      const b = await node(prefix, 'b');
      a.engine.addInterest('ordered');
      await new Promise((r) => setTimeout(r, 100));
      for (let i = 0; i < 2000; i++) assert.equal(b.engine.publish('ordered', bytes(String(i))), true);
      await a.probe.until(() => a.probe.messages.length >= 2000, '2000 messages', 10_000);
      assert.deepEqual(
        a.probe.messages,
        Array.from({ length: 2000 }, (_, i) => String(i)),
      );
    });

    test('removeInterest stops delivery; another prefix never sees a publication', async () => {
      const prefix = freshPrefix();
      const a = await node(prefix, 'a');
      const b = await node(prefix, 'b');
      const stranger = await node(freshPrefix(), 'stranger');
      stranger.engine.addInterest('#');
      a.engine.addInterest('gone');
      a.engine.addInterest('kept');
      await new Promise((r) => setTimeout(r, 100));
      b.engine.publish('gone', bytes('before'));
      await a.probe.until(() => a.probe.has('before'), 'before');
      a.engine.removeInterest('gone');
      await new Promise((r) => setTimeout(r, 100));
      b.engine.publish('gone', bytes('after'));
      await fence(b.engine, a.probe, 'kept', 'fence');
      assert.ok(!a.probe.has('after'));
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(stranger.probe.messages, []);
    });

    test('a 512 KiB envelope crosses', async () => {
      const prefix = freshPrefix();
      const a = await node(prefix, 'a');
      const b = await node(prefix, 'b');
      a.engine.addInterest('big');
      await new Promise((r) => setTimeout(r, 100));
      const big = 'x'.repeat(512 * 1024);
      assert.equal(b.engine.publish('big', bytes(big)), true);
      await a.probe.until(() => a.probe.has(big), 'the big one');
    });

    test('server restart: the engine reconnects by itself, re-establishes its interest, and publications flow again', async () => {
      const prefix = freshPrefix();
      const a = await node(prefix, 'a');
      const b = await node(prefix, 'b');
      a.engine.addInterest('survives/#');
      await new Promise((r) => setTimeout(r, 100));
      await fence(b.engine, a.probe, 'survives/1', 'before');
      await server.stop();
      await a.probe.until(() => a.engine.state !== 'connected', 'a notices');
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(b.engine.publish('survives/1', bytes('during')), false, 'not sent while down');
      // Interest added while disconnected is established on reconnect too.
      a.engine.addInterest('late');
      await server.restart();
      await a.probe.until(
        () => a.engine.state === 'connected' && b.engine.state === 'connected',
        'both back',
        15_000,
      );
      await new Promise((r) => setTimeout(r, 200));
      await fence(b.engine, a.probe, 'survives/2', 'after');
      await fence(b.engine, a.probe, 'late', 'late one');
      assert.ok(!a.probe.has('during'));
      assert.ok(a.probe.states.includes('disconnected'));
      assert.equal(a.probe.states.at(-1), 'connected');
    });

    test('start with the server down: required rejects with a reason; not required resolves disconnected, then joins when the server comes up', async () => {
      await server.stop();
      try {
        const strict = makeEngine({ urls: [server.url], prefix: 'strict', nodeName: 'strict' });
        await assert.rejects(
          strict.start(new Probe().listener, true),
          (err: Error) => err.message.length > 0,
        );
        assert.equal(strict.state, 'closed');
        const lenient = makeEngine({ urls: [server.url], prefix: 'late', nodeName: 'lenient' });
        open.push(lenient);
        const probe = new Probe();
        await lenient.start(probe.listener, false);
        assert.equal(lenient.state === 'connected', false);
        lenient.addInterest('wanted');
        assert.equal(lenient.publish('wanted', bytes('too early')), false);
        await server.restart();
        await probe.until(() => lenient.state === 'connected', 'lenient joins', 15_000);
        const other = await node('late', 'other');
        await new Promise((r) => setTimeout(r, 200));
        await fence(other.engine, probe, 'wanted', 'joined');
      } finally {
        await server.restart().catch(() => {});
      }
    });

    test('close: state closed, publish refused, no more events', async () => {
      const a = await node(freshPrefix(), 'a');
      await a.engine.close();
      assert.equal(a.engine.state, 'closed');
      assert.equal(a.engine.publish('x', bytes('x')), false);
      assert.equal(a.probe.states.at(-1), 'closed');
    });
  });
}
