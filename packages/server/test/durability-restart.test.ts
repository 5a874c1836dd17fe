import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { MemoryStore } from '@pulse/core';
import Database from 'better-sqlite3';
import type { IConnackPacket, IPublishPacket } from 'mqtt-packet';
import { pino } from 'pino';
import type { PulseConfig } from '../src/config/index.js';
import { PulseServer } from '../src/server.js';
import { SqliteStore } from '../src/storage/sqlite-store.js';
import {
  type DeepPartial,
  freePort,
  type Harness,
  metricValue,
  scrape,
  sleep,
  startServer,
} from './helpers.js';
import { eventually, mqttOnlyConfig, RawMqtt } from './mqtt-helpers.js';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A server on a fixed MQTT port and database file, stopped and started again at will. */
class Restartable {
  harness: Harness | undefined;
  readonly file: string;

  private constructor(
    readonly mqttPort: number,
    private readonly overrides: DeepPartial<PulseConfig>,
    file?: string,
  ) {
    if (file !== undefined) {
      this.file = file;
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'pulse-restart-'));
    dirs.push(dir);
    this.file = join(dir, 'pulse.db');
  }

  static async create(overrides: DeepPartial<PulseConfig> = {}): Promise<Restartable> {
    const r = new Restartable(await freePort(), overrides);
    await r.start();
    return r;
  }

  /** A server on `other`'s port and file with different settings (`other` is stopped). */
  static async reopen(other: Restartable, overrides: DeepPartial<PulseConfig>): Promise<Restartable> {
    const r = new Restartable(other.mqttPort, overrides, other.file);
    await r.start();
    return r;
  }

  async start(): Promise<void> {
    this.harness = await startServer({
      ...this.overrides,
      storage: { engine: 'sqlite', path: this.file, ...this.overrides.storage },
      mqtt: { port: this.mqttPort, ...this.overrides.mqtt },
    });
  }

  async stop(): Promise<void> {
    await this.harness?.stop();
    this.harness = undefined;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  connect(clientId: string, fields: Record<string, unknown> = {}) {
    return RawMqtt.connect(this.mqttPort, 5, {
      clientId,
      clean: false,
      properties: { sessionExpiryInterval: 600 },
      ...fields,
    });
  }
}

async function subscribe(raw: RawMqtt, topic: string, qos: 0 | 1 | 2): Promise<void> {
  raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos }] });
  await raw.next('suback');
}

describe('restart on the same SQLite file', () => {
  test('a persistent session comes back with its subscription; QoS 1 messages queued while away are delivered', async () => {
    const server = await Restartable.create();
    try {
      const { raw: sub } = await server.connect('rs-sub');
      await subscribe(sub, 'rs/queue', 1);
      sub.send({ cmd: 'disconnect' });
      await sub.expectClosed();
      const { raw: pub } = await server.connect('rs-pub', { clean: true, properties: {} });
      for (let i = 0; i < 5; i++) {
        pub.send({
          cmd: 'publish',
          topic: 'rs/queue',
          payload: `m${i}`,
          qos: 1,
          messageId: i + 1,
          dup: false,
          retain: false,
        });
        await pub.next('puback');
      }
      pub.destroy();
      await server.restart();
      const { raw: back, connack } = await server.connect('rs-sub');
      assert.equal(connack.sessionPresent, true);
      const got: string[] = [];
      for (let i = 0; i < 5; i++) {
        const p = (await back.next('publish')) as IPublishPacket;
        got.push(p.payload.toString());
        back.send({ cmd: 'puback', messageId: p.messageId });
      }
      assert.deepEqual(got, ['m0', 'm1', 'm2', 'm3', 'm4']);
      // The subscription itself survived: a new message after the restart arrives too.
      const { raw: pub2 } = await server.connect('rs-pub2', { clean: true, properties: {} });
      pub2.send({ cmd: 'publish', topic: 'rs/queue', payload: 'after', qos: 0, dup: false, retain: false });
      assert.equal(((await back.next('publish')) as IPublishPacket).payload.toString(), 'after');
      back.destroy();
      pub2.destroy();
    } finally {
      await server.stop();
    }
  });

  test('an inbound QoS 2 message acknowledged with PUBREC is not routed again when resent after a restart', async () => {
    const server = await Restartable.create();
    try {
      const { raw: sub } = await server.connect('q2-sub', { clean: true, properties: {} });
      await subscribe(sub, 'q2/in', 0);
      const { raw: pub } = await server.connect('q2-pub');
      pub.send({
        cmd: 'publish',
        topic: 'q2/in',
        payload: 'once',
        qos: 2,
        messageId: 7,
        dup: false,
        retain: false,
      });
      await pub.next('pubrec');
      assert.equal(((await sub.next('publish')) as IPublishPacket).payload.toString(), 'once');
      pub.destroy();
      sub.destroy();
      await server.restart();
      const { raw: sub2 } = await server.connect('q2-sub2', { clean: true, properties: {} });
      await subscribe(sub2, 'q2/in', 0);
      const { raw: again, connack } = await server.connect('q2-pub');
      assert.equal(connack.sessionPresent, true);
      again.send({
        cmd: 'publish',
        topic: 'q2/in',
        payload: 'once',
        qos: 2,
        messageId: 7,
        dup: true,
        retain: false,
      });
      await again.next('pubrec');
      again.send({ cmd: 'pubrel', messageId: 7 });
      const pubcomp = (await again.next('pubcomp')) as { reasonCode?: number };
      assert.equal(pubcomp.reasonCode ?? 0, 0, 'the packet id was known after the restart');
      await sub2.nothingFor(200, 'publish');
      again.destroy();
      sub2.destroy();
    } finally {
      await server.stop();
    }
  });

  test('an outgoing QoS 2 message released with PUBREL resumes with PUBREL, not a second PUBLISH', async () => {
    const server = await Restartable.create();
    try {
      const { raw: sub } = await server.connect('rel-sub');
      await subscribe(sub, 'rel/t', 2);
      const { raw: pub } = await server.connect('rel-pub', { clean: true, properties: {} });
      pub.send({
        cmd: 'publish',
        topic: 'rel/t',
        payload: 'x',
        qos: 2,
        messageId: 1,
        dup: false,
        retain: false,
      });
      await pub.next('pubrec');
      pub.send({ cmd: 'pubrel', messageId: 1 });
      await pub.next('pubcomp');
      const publish = (await sub.next('publish')) as IPublishPacket;
      sub.send({ cmd: 'pubrec', messageId: publish.messageId });
      await sub.next('pubrel');
      sub.destroy();
      pub.destroy();
      await server.restart();
      const { raw: back } = await server.connect('rel-sub');
      const resumed = await back.next();
      assert.equal(resumed.cmd, 'pubrel');
      assert.equal((resumed as { messageId?: number }).messageId, publish.messageId);
      back.send({ cmd: 'pubcomp', messageId: publish.messageId });
      await back.nothingFor(200, 'publish');
      back.destroy();
    } finally {
      await server.stop();
    }
  });

  test('session expiry counts across the restart: an expired session is not restored', async () => {
    const server = await Restartable.create();
    try {
      const { raw: short } = await server.connect('exp-short', { properties: { sessionExpiryInterval: 1 } });
      const { raw: long } = await server.connect('exp-long');
      short.send({ cmd: 'disconnect' });
      long.send({ cmd: 'disconnect' });
      await Promise.all([short.expectClosed(), long.expectClosed()]);
      await server.stop();
      await sleep(1200);
      await server.start();
      const a = await server.connect('exp-short', { properties: { sessionExpiryInterval: 1 } });
      const b = await server.connect('exp-long');
      assert.equal(a.connack.sessionPresent, false);
      assert.equal(b.connack.sessionPresent, true);
      a.raw.destroy();
      b.raw.destroy();
    } finally {
      await server.stop();
    }
  });

  test('a delayed will survives the restart and is published when its delay ends', async () => {
    const server = await Restartable.create();
    try {
      const { raw: dying } = await server.connect('will-c', {
        will: {
          topic: 'will/t',
          payload: Buffer.from('gone'),
          qos: 1,
          retain: false,
          properties: { willDelayInterval: 1 },
        },
      });
      dying.destroy();
      await sleep(100);
      await server.restart();
      const { raw: watcher } = await server.connect('will-w', { clean: true, properties: {} });
      await subscribe(watcher, 'will/t', 1);
      const will = (await watcher.next('publish', 3000)) as IPublishPacket;
      assert.equal(will.payload.toString(), 'gone');
      watcher.destroy();
    } finally {
      await server.stop();
    }
  });

  test('retained messages survive; one whose expiry passed while stopped does not', async () => {
    const server = await Restartable.create();
    try {
      const { raw: pub } = await server.connect('ret-pub', { clean: true, properties: {} });
      pub.send({
        cmd: 'publish',
        topic: 'ret/keep',
        payload: 'k',
        qos: 1,
        messageId: 1,
        retain: true,
        dup: false,
      });
      await pub.next('puback');
      pub.send({
        cmd: 'publish',
        topic: 'ret/short',
        payload: 's',
        qos: 1,
        messageId: 2,
        retain: true,
        dup: false,
        properties: { messageExpiryInterval: 1 },
      });
      await pub.next('puback');
      pub.destroy();
      await server.stop();
      await sleep(1100);
      await server.start();
      const { raw: sub } = await server.connect('ret-sub', { clean: true, properties: {} });
      await subscribe(sub, 'ret/#', 1);
      const first = (await sub.next('publish')) as IPublishPacket;
      assert.equal(first.topic, 'ret/keep');
      assert.equal(first.retain, true);
      await sub.nothingFor(200, 'publish');
      sub.destroy();
    } finally {
      await server.stop();
    }
  });

  test('the purge timer deletes expired sessions from the file', async () => {
    const server = await Restartable.create({ storage: { purge_interval_ms: 100 } });
    try {
      const { raw } = await server.connect('purge-me', { properties: { sessionExpiryInterval: 1 } });
      raw.send({ cmd: 'disconnect' });
      await raw.expectClosed();
      await sleep(1400);
    } finally {
      await server.stop();
    }
    const db = new Database(server.file, { readonly: true });
    try {
      const row = db.prepare('SELECT count(*) AS n FROM sessions WHERE client_id = ?').get('purge-me') as {
        n: number;
      };
      assert.equal(row.n, 0);
    } finally {
      db.close();
    }
  });

  test('a session expiry longer than setTimeout can wait (30 days) keeps the session, before and after a restart', async () => {
    const server = await Restartable.create();
    try {
      const month = 30 * 24 * 3600;
      const { raw } = await server.connect('long-exp', { properties: { sessionExpiryInterval: month } });
      raw.send({ cmd: 'disconnect' });
      await raw.expectClosed();
      await sleep(300);
      const again = await server.connect('long-exp', { properties: { sessionExpiryInterval: month } });
      assert.equal(again.connack.sessionPresent, true, 'alive 300 ms after its client left');
      again.raw.send({ cmd: 'disconnect' });
      await again.raw.expectClosed();
      await server.restart();
      await sleep(300);
      const back = await server.connect('long-exp', { properties: { sessionExpiryInterval: month } });
      assert.equal(back.connack.sessionPresent, true, 'alive 300 ms after the restart');
      back.raw.destroy();
    } finally {
      await server.stop();
    }
  });

  test('limits lowered between runs apply to what is restored: retained messages and session queues', async () => {
    const server = await Restartable.create();
    try {
      const { raw: sub } = await server.connect('low-sub');
      await subscribe(sub, 'low/q', 1);
      sub.send({ cmd: 'disconnect' });
      await sub.expectClosed();
      const { raw: pub } = await server.connect('low-pub', { clean: true, properties: {} });
      for (let i = 0; i < 3; i++) {
        const topic = `low/r${i}`;
        pub.send({ cmd: 'publish', topic, payload: 'r', qos: 1, messageId: i + 1, retain: true, dup: false });
        await pub.next('puback');
      }
      for (let i = 0; i < 5; i++) {
        pub.send({
          cmd: 'publish',
          topic: 'low/q',
          payload: `m${i}`,
          qos: 1,
          messageId: 10 + i,
          dup: false,
          retain: false,
        });
        await pub.next('puback');
      }
      pub.destroy();
      await server.stop();
    } finally {
      await server.stop();
    }
    const lowered = await Restartable.reopen(server, {
      mqtt: { max_retained_messages: 2, max_queued_messages: 2 },
    });
    try {
      const { raw: back } = await lowered.connect('low-sub');
      const got: string[] = [];
      for (let i = 0; i < 2; i++) {
        const p = (await back.next('publish')) as IPublishPacket;
        got.push(p.payload.toString());
        back.send({ cmd: 'puback', messageId: p.messageId });
      }
      assert.deepEqual(got, ['m3', 'm4'], 'the newest two of the queue');
      await back.nothingFor(200, 'publish');
      back.destroy();
      const { raw: watcher } = await lowered.connect('low-w', { clean: true, properties: {} });
      await subscribe(watcher, 'low/+', 0);
      await watcher.next('publish');
      await watcher.next('publish');
      await watcher.nothingFor(200, 'publish');
      watcher.destroy();
    } finally {
      await lowered.stop();
    }
    // The one over the limit was deleted from the file, not just hidden.
    const raised = await Restartable.reopen(server, { mqtt: { max_retained_messages: 10 } });
    try {
      const { raw: watcher } = await raised.connect('low-w2', { clean: true, properties: {} });
      await subscribe(watcher, 'low/+', 0);
      await watcher.next('publish');
      await watcher.next('publish');
      await watcher.nothingFor(200, 'publish');
      watcher.destroy();
    } finally {
      await raised.stop();
    }
  });

  test('restored session queues count their bytes: mqtt.max_queued_bytes lowered between runs drops the oldest', async () => {
    const size = 50 * 1024;
    const queuedSize = size + 'rb/q'.length;
    const server = await Restartable.create();
    try {
      const { raw: sub } = await server.connect('rb-sub');
      await subscribe(sub, 'rb/q', 1);
      sub.send({ cmd: 'disconnect' });
      await sub.expectClosed();
      const { raw: pub } = await server.connect('rb-pub', { clean: true, properties: {} });
      for (let i = 0; i < 4; i++) {
        pub.send({
          cmd: 'publish',
          topic: 'rb/q',
          payload: Buffer.alloc(size, i),
          qos: 1,
          messageId: i + 1,
          dup: false,
          retain: false,
        });
        await pub.next('puback');
      }
      pub.destroy();
    } finally {
      await server.stop();
    }
    const lowered = await Restartable.reopen(server, { mqtt: { max_queued_bytes: 2 * queuedSize + 1000 } });
    try {
      const text = await scrape(lowered.harness as Harness);
      assert.equal(metricValue(text, 'pulse_mqtt_queued_bytes'), 2 * queuedSize);
      assert.equal(metricValue(text, 'pulse_mqtt_dropped_total{reason="queue_bytes"}'), 2);
      const { raw: back } = await lowered.connect('rb-sub');
      const got: number[] = [];
      for (let i = 0; i < 2; i++) {
        const p = (await back.next('publish')) as IPublishPacket;
        got.push(at(p.payload as Buffer, 0));
        back.send({ cmd: 'puback', messageId: p.messageId });
      }
      assert.deepEqual(got, [2, 3], 'the newest two of the queue');
      await back.nothingFor(200, 'publish');
      back.destroy();
    } finally {
      await lowered.stop();
    }
  });

  test('storage.max_stored_messages bounds the queues of all sessions; the excess is counted', async () => {
    const server = await Restartable.create({ storage: { max_stored_messages: 3 } });
    try {
      const { raw: sub } = await server.connect('cap-sub');
      await subscribe(sub, 'cap/t', 1);
      sub.send({ cmd: 'disconnect' });
      await sub.expectClosed();
      const { raw: pub } = await server.connect('cap-pub', { clean: true, properties: {} });
      for (let i = 0; i < 6; i++) {
        pub.send({
          cmd: 'publish',
          topic: 'cap/t',
          payload: `m${i}`,
          qos: 1,
          messageId: i + 1,
          dup: false,
          retain: false,
        });
        await pub.next('puback');
      }
      const text = await scrape(server.harness as Harness);
      assert.equal(metricValue(text, 'pulse_mqtt_dropped_total{reason="store_full"}'), 3);
      assert.ok(metricValue(text, 'pulse_storage_size_bytes') > 0);
      assert.ok(metricValue(text, 'pulse_storage_commits_total') > 0);
      assert.equal(metricValue(text, 'pulse_storage_info{engine="sqlite",commit_policy="balanced"}'), 1);
      pub.destroy();
      const { raw: back } = await server.connect('cap-sub');
      const got: string[] = [];
      for (let i = 0; i < 3; i++) {
        const p = (await back.next('publish')) as IPublishPacket;
        got.push(p.payload.toString());
        back.send({ cmd: 'puback', messageId: p.messageId });
      }
      assert.deepEqual(got, ['m0', 'm1', 'm2']);
      back.destroy();
    } finally {
      await server.stop();
    }
  });
});

describe('the memory engine', () => {
  test('a server started again in the same process with the same MemoryStore resumes sessions', async () => {
    const store = new MemoryStore();
    const mqttPort = await freePort();
    const config = mqttOnlyConfig(mqttPort);
    const run = async () => {
      const server = new PulseServer(config, { logger: pino({ level: 'silent' }), store });
      await server.start();
      return server;
    };
    let server = await run();
    try {
      const first = await RawMqtt.connect(mqttPort, 5, {
        clientId: 'mem-c',
        clean: false,
        properties: { sessionExpiryInterval: 60 },
      });
      await subscribe(first.raw, 'mem/t', 1);
      first.raw.destroy();
      await server.stop();
      server = await run();
      const { connack } = (await RawMqtt.connect(mqttPort, 5, {
        clientId: 'mem-c',
        clean: false,
        properties: { sessionExpiryInterval: 60 },
      })) as { raw: RawMqtt; connack: IConnackPacket };
      assert.equal(connack.sessionPresent, true);
      // A new process would start empty: a fresh MemoryStore has nothing to restore.
      assert.equal(new MemoryStore().load(Date.now()).sessions.length, 0);
    } finally {
      await server.stop();
    }
  });
});

describe('a failed commit', () => {
  test('stops the server before any acknowledgement of the failed turn goes out (fail-stop)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pulse-failstop-'));
    dirs.push(dir);
    const file = join(dir, 'pulse.db');
    const real = SqliteStore.open(file, 'balanced');
    let failing = false;
    // Fault injection around a real SQLite store: the next commits throw, as on a full disk.
    const store = new Proxy(real, {
      get(target, key) {
        if (key === 'commit' && failing) {
          return () => {
            throw new Error('disk I/O error (injected)');
          };
        }
        const value = Reflect.get(target, key);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const mqttPort = await freePort();
    const config = mqttOnlyConfig(mqttPort);
    let fatal: Error | undefined;
    const server = new PulseServer(config, {
      logger: pino({ level: 'silent' }),
      store,
      onFatal: (err) => {
        fatal = err;
      },
    });
    await server.start();
    try {
      const { raw: sub } = await RawMqtt.connect(mqttPort, 5, {
        clientId: 'fs-sub',
        clean: false,
        properties: { sessionExpiryInterval: 600 },
      });
      await subscribe(sub, 'fs/t', 1);
      sub.destroy();
      const { raw: pub } = await RawMqtt.connect(mqttPort, 5, { clientId: 'fs-pub' });
      pub.send({
        cmd: 'publish',
        topic: 'fs/t',
        payload: 'kept',
        qos: 1,
        messageId: 1,
        dup: false,
        retain: false,
      });
      await pub.next('puback');
      failing = true;
      pub.send({
        cmd: 'publish',
        topic: 'fs/t',
        payload: 'lost',
        qos: 1,
        messageId: 2,
        dup: false,
        retain: false,
      });
      await pub.expectClosed();
      assert.deepEqual(
        pub.unread().map((p) => p.cmd),
        [],
        'no PUBACK for the publication whose commit failed',
      );
      await eventually(() => fatal, 'onFatal');
      assert.match(String(fatal?.message), /injected/);
    } finally {
      await server.stop();
      failing = false;
      real.close();
    }
    const state = SqliteStore.open(file, 'balanced');
    try {
      const session = state.load(Date.now()).sessions.find((s) => s.session.clientId === 'fs-sub');
      // What was acknowledged is there. The unacknowledged one may be too (its writes stayed
      // pending and the last close committed them): a QoS 1 resend then duplicates it, as allowed.
      const queued = session?.queue.map((q) => Buffer.from(q.message.payload).toString()) ?? [];
      assert.equal(queued[0], 'kept');
    } finally {
      state.close();
    }
  });

  test('limits.max_channel_length lowered: the stored subscriptions past it are dropped, those within it and retained messages kept', async () => {
    const long = `len/${'x'.repeat(96)}`;
    const server = await Restartable.create();
    try {
      const { raw } = await server.connect('len-sub');
      await subscribe(raw, long, 1);
      await subscribe(raw, 'len/short', 1);
      raw.send({
        cmd: 'publish',
        topic: long,
        payload: 'kept',
        qos: 1,
        messageId: 5,
        dup: false,
        retain: true,
      });
      await raw.next('puback');
      raw.destroy();
    } finally {
      await server.stop();
    }
    const lowered = await Restartable.reopen(server, { limits: { max_channel_length: 64 } });
    try {
      const session = lowered.harness?.server.mqtt?.sessions.get('len-sub');
      assert.deepEqual([...(session?.subscriptions.keys() ?? [])], ['len/short']);
      const { raw: watcher } = await lowered.connect('len-w', { clean: true, properties: {} });
      await subscribe(watcher, 'len/#', 0);
      assert.equal(((await watcher.next('publish')) as IPublishPacket).topic, long, 'the retained message');
      watcher.destroy();
    } finally {
      await lowered.stop();
    }
  });
});
