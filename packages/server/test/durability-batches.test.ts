import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { QueuedRecord } from '@pulse/core';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { pino } from 'pino';
import { PulseServer } from '../src/server.js';
import { SqliteStore } from '../src/storage/sqlite-store.js';
import { freePort, sleep } from './helpers.js';
import { mqttOnlyConfig, RawMqtt } from './mqtt-helpers.js';

// A turn of the event loop writes in two batches (docs/ARCHITECTURE.md, "The hot path", rule 2):
// what its first socket read queued, at once, and the rest at its end. Each batch's
// acknowledgements wait for their own commit (rule 6). Here eight publishers write in the same
// tick, so that the server reads them all in one turn, and the n-th commit fails: every
// PUBACK / PUBREC a publisher received must be for a message a commit that succeeded holds.

const PUBLISHERS = 8;
const ROUNDS = 3;
const PER_ROUND = 3;

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A real SQLite store whose commits from `armed` on fail from the `failAt`-th; it knows what was committed. */
function failingStore(file: string, failAt: number) {
  const real = SqliteStore.open(file, 'balanced');
  const control = { armed: false, commits: 0, failing: false };
  const pending: string[] = [];
  const committed = new Set<string>();
  const store = new Proxy(real, {
    get(target, key) {
      if (key === 'commit') {
        return () => {
          if (control.armed && ++control.commits >= failAt) control.failing = true;
          if (control.failing) throw new Error('disk I/O error (injected)');
          target.commit();
          for (const payload of pending.splice(0)) committed.add(payload);
        };
      }
      if (key === 'putQueued') {
        return (clientId: string, record: QueuedRecord) => {
          pending.push(Buffer.from(record.message.payload).toString());
          target.putQueued(clientId, record);
        };
      }
      const value = Reflect.get(target, key);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { real, store, control, committed };
}

/** Raw bytes: the server may have closed the socket under a round, and that is no failure here. */
function publish(raw: RawMqtt, packet: Packet): void {
  if (raw.socket.destroyed) return;
  raw.socket.write(mqttPacket.generate(packet, { protocolVersion: 5 }), () => {});
}

for (const qos of [1, 2] as const) {
  for (const failAt of [1, 2, 3, 4]) {
    test(`a failed commit among the batches of a multi-publisher turn (QoS ${qos}, commit ${failAt} fails): every acknowledgement was committed first`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'pulse-batches-'));
      dirs.push(dir);
      const { real, store, control, committed } = failingStore(join(dir, 'pulse.db'), failAt);
      const mqttPort = await freePort();
      let fatal: Error | undefined;
      const server = new PulseServer(mqttOnlyConfig(mqttPort), {
        logger: pino({ level: 'silent' }),
        store,
        onFatal: (err) => {
          fatal = err;
        },
      });
      await server.start();
      const acked: string[] = [];
      try {
        // An offline persistent subscriber: every publication is a stored queue row.
        const { raw: sub } = await RawMqtt.connect(mqttPort, 5, {
          clientId: 'batches-sub',
          clean: false,
          properties: { sessionExpiryInterval: 600 },
        });
        sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'batches/t', qos: 2 }] });
        await sub.next('suback');
        sub.send({ cmd: 'disconnect' });
        await sub.expectClosed();
        const pubs: RawMqtt[] = [];
        for (let i = 0; i < PUBLISHERS; i++) {
          const { raw } = await RawMqtt.connect(mqttPort, 5, { clientId: `batches-p${i}` });
          raw.closed.catch(() => {});
          raw.socket.on('error', () => {});
          pubs.push(raw);
        }
        control.armed = true;
        for (let round = 0; round < ROUNDS; round++) {
          for (const [i, pub] of pubs.entries()) {
            for (let k = 0; k < PER_ROUND; k++) {
              publish(pub, {
                cmd: 'publish',
                topic: 'batches/t',
                payload: `p${i}-m${round * PER_ROUND + k + 1}`,
                qos,
                messageId: round * PER_ROUND + k + 1,
                dup: false,
                retain: false,
              });
            }
          }
          // Time for the acknowledgements to be read before the next round (a reset loses them).
          await sleep(30);
        }
        await Promise.allSettled(pubs.map((p) => p.closed));
        for (const [i, pub] of pubs.entries()) {
          for (const packet of pub.packets.items) {
            if (packet.cmd === 'puback' || packet.cmd === 'pubrec') acked.push(`p${i}-m${packet.messageId}`);
          }
        }
      } finally {
        await server.stop();
        control.failing = false;
        real.close();
      }
      assert.match(String(fatal?.message), /injected/, 'the failed commit stopped the server');
      for (const message of acked)
        assert.ok(committed.has(message), `${message} was acknowledged before its commit`);
      // The first commits that succeed carry whole batches: their acknowledgements arrive.
      if (failAt >= 3) assert.ok(acked.length > 0, 'some acknowledgements were sent before the failure');
    });
  }
}
