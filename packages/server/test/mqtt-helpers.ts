import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { type Socket, connect } from 'node:net';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import mqttPacket, {
  type IConnackPacket,
  type IConnectPacket,
  type IDisconnectPacket,
  type IPublishPacket,
  type Packet,
} from 'mqtt-packet';
import {
  type DeepPartial,
  type Harness,
  Inbox,
  freePort,
  retryOnPortClash,
  metricValue,
  scrape,
  startServer,
} from './helpers.js';
import { type PulseConfig, defaultConfig } from '../src/config/index.js';
import type { PulseServerOptions } from '../src/server.js';

export type MqttVersion = 3 | 4 | 5;

/** A server with MQTT over TCP on a free port, and the URLs of both MQTT endpoints. */
export interface MqttHarness extends Harness {
  mqttPort: number;
  /** `mqtt://127.0.0.1:PORT` */
  tcpUrl: string;
  /** `ws://127.0.0.1:HTTP_PORT/mqtt` */
  mqttWsUrl: string;
}

export function startMqtt(
  overrides: DeepPartial<PulseConfig> = {},
  options: PulseServerOptions = {},
): Promise<MqttHarness> {
  return retryOnPortClash(() => startMqttOnce(overrides, options));
}

async function startMqttOnce(
  overrides: DeepPartial<PulseConfig>,
  options: PulseServerOptions,
): Promise<MqttHarness> {
  const mqttPort = await freePort();
  const h = await startServer({ ...overrides, mqtt: { port: mqttPort, ...overrides.mqtt } }, options);
  return {
    ...h,
    mqttPort,
    tcpUrl: `mqtt://127.0.0.1:${mqttPort}`,
    mqttWsUrl: `${h.httpUrl.replace('http:', 'ws:')}/mqtt`,
  };
}

/** Runs `fn` against a fresh server and always stops it. */
export async function withMqtt(
  overrides: DeepPartial<PulseConfig>,
  fn: (h: MqttHarness) => Promise<void>,
): Promise<void> {
  const h = await startMqtt(overrides);
  try {
    await fn(h);
  } finally {
    await h.stop();
  }
}

export interface Received {
  topic: string;
  payload: Buffer;
  packet: IPublishPacket;
}

/** An MQTT.js client that never reconnects, with an inbox of every message and every error. */
export interface TestClient extends MqttClient {
  inbox: Inbox<Received>;
  errors: Error[];
  /** Resolves with the server's DISCONNECT (v5) or undefined when the connection closes. */
  gone: Promise<IDisconnectPacket | undefined>;
}

let clientCounter = 0;
export const uniqueId = (prefix = 'c') => `${prefix}-${process.pid}-${++clientCounter}`;

/** Connects; the inbox is attached before CONNACK, so messages sent right after it are kept. */
export async function mqttClient(url: string, options: IClientOptions = {}): Promise<TestClient> {
  return (await mqttClientWithConnack(url, options)).client;
}

function decorate(client: TestClient): void {
  client.inbox = new Inbox<Received>();
  client.errors = [];
  client.on('error', (err) => client.errors.push(err));
  client.on('message', (topic, payload, packet) => client.inbox.push({ topic, payload, packet }));
  let disconnect: IDisconnectPacket | undefined;
  client.on('disconnect', (packet) => {
    disconnect = packet;
  });
  client.gone = new Promise((resolve) => client.once('close', () => resolve(disconnect)));
}

/** Connects and returns the client together with its CONNACK. */
export async function mqttClientWithConnack(
  url: string,
  options: IClientOptions = {},
): Promise<{ client: TestClient; connack: IConnackPacket }> {
  const client = mqtt.connect(url, {
    clientId: uniqueId(),
    connectTimeout: 5000,
    ...options,
    reconnectPeriod: 0,
  }) as TestClient;
  decorate(client);
  let onError: (err: Error) => void = () => {};
  let onClose: () => void = () => {};
  const connack = await new Promise<IConnackPacket>((resolve, reject) => {
    onError = (err: Error) => {
      client.end(true);
      reject(err);
    };
    onClose = () => onError(new Error('closed before CONNACK'));
    client.once('connect', resolve);
    client.once('error', onError);
    client.once('close', onClose);
  }).finally(() => {
    client.removeAllListeners('connect');
    client.off('error', onError);
    client.off('close', onClose);
  });
  return { client, connack };
}

/** The code an MQTT.js CONNECT is refused with (v5 reason code, 3.1.1 return code). */
export async function refusedWith(url: string, options: IClientOptions): Promise<number | undefined> {
  let code: number | undefined;
  await assert.rejects(mqttClientWithConnack(url, options), (err: Error & { code?: number }) => {
    code = err.code;
    return true;
  });
  return code;
}

/** Ends clients that may already be gone. */
export async function endAll(...clients: (MqttClient | undefined)[]): Promise<void> {
  await Promise.all(clients.map((c) => c?.endAsync(true).catch(() => {})));
}

/** Resolves with `value`, or rejects after `ms` naming `what`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]);
}

/** Polls `check` until it returns true (or a value), failing after `ms`. */
export async function eventually<T>(
  check: () => T | Promise<T>,
  what: string,
  ms = 3000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export async function metric(h: Harness, name: string): Promise<number> {
  const value = metricValue(await scrape(h), name);
  return Number.isNaN(value) ? 0 : value;
}

// --- raw MQTT over TCP -----------------------------------------------------------------------

export function encode(packet: Packet, version: MqttVersion = 5): Buffer {
  return mqttPacket.generate(packet, { protocolVersion: version });
}

/** MQTT 5 QoS 1 PUBLISH packets numbered from `first` (the number in the first 4 payload bytes), 128 bytes of payload each. */
export function qos1Publishes(topic: string, first: number, count: number): Buffer {
  const packets: Buffer[] = [];
  for (let i = first; i < first + count; i++) {
    const payload = Buffer.alloc(128, 3);
    payload.writeUInt32BE(i, 0);
    packets.push(
      encode({
        cmd: 'publish',
        topic,
        payload,
        qos: 1,
        messageId: (i % 65_535) + 1,
        dup: false,
        retain: false,
      } as Packet),
    );
  }
  return Buffer.concat(packets);
}

export function connectPacket(version: MqttVersion, fields: Partial<IConnectPacket> = {}): IConnectPacket {
  return {
    cmd: 'connect',
    protocolId: version === 3 ? 'MQIsdp' : 'MQTT',
    protocolVersion: version,
    clean: true,
    clientId: uniqueId('raw'),
    // 0 (none) is refused to 3.1.1 and 3.1 clients under mqtt.max_keepalive (65535 by default).
    keepalive: 60,
    ...fields,
  };
}

/**
 * A raw TCP connection to the MQTT listener that sends exactly the bytes it is given and
 * parses what the server sends with mqtt-packet (an unparseable server packet fails the test).
 */
export class RawMqtt {
  readonly packets = new Inbox<Packet>();
  readonly parseErrors: Error[] = [];
  readonly closed: Promise<void>;
  isClosed = false;
  private cursor = 0;
  private parser: ReturnType<typeof mqttPacket.parser>;

  private constructor(
    readonly socket: Socket,
    readonly version: MqttVersion,
  ) {
    this.parser = mqttPacket.parser({ protocolVersion: version });
    this.parser.on('packet', (p) => this.packets.push(p));
    this.parser.on('error', (err) => this.parseErrors.push(err));
    socket.on('data', (chunk) => this.parser.parse(chunk));
    socket.on('error', () => {});
    this.closed = once(socket, 'close').then(() => {
      this.isClosed = true;
    });
  }

  static async open(port: number, version: MqttVersion = 5): Promise<RawMqtt> {
    const socket = connect({ host: '127.0.0.1', port });
    await once(socket, 'connect');
    return new RawMqtt(socket, version);
  }

  /** Opens, sends CONNECT and returns the CONNACK (asserting success unless told otherwise). */
  static async connect(
    port: number,
    version: MqttVersion = 5,
    fields: Partial<IConnectPacket> = {},
  ): Promise<{ raw: RawMqtt; connack: IConnackPacket }> {
    const raw = await RawMqtt.open(port, version);
    raw.send(connectPacket(version, fields));
    const connack = (await raw.next('connack')) as IConnackPacket;
    assert.equal(connack.reasonCode ?? connack.returnCode, 0, 'CONNACK accepted');
    return { raw, connack };
  }

  send(packet: Packet): void {
    this.socket.write(encode(packet, this.version));
  }

  write(bytes: Buffer | number[]): void {
    this.socket.write(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes));
  }

  /** The next packet not yet returned (of type `cmd` if given, skipping others). */
  async next(cmd?: string, timeoutMs = 3000): Promise<Packet> {
    for (;;) {
      const items = await this.packets.waitFor(this.cursor + 1, timeoutMs).catch((err: Error) => {
        throw new Error(
          `${err.message} (expected ${cmd ?? 'a packet'}; closed: ${this.isClosed}; got ${this.packets.items
            .map((p) => p.cmd)
            .join(',')})`,
        );
      });
      const packet = items[this.cursor++];
      assert.ok(packet !== undefined);
      if (!cmd || packet.cmd === cmd) return packet;
    }
  }

  /** The next packet, or undefined if the server closes the connection first. */
  async nextOrClosed(timeoutMs = 3000): Promise<Packet | undefined> {
    const packet = this.next(undefined, timeoutMs);
    packet.catch(() => {});
    return within(
      Promise.race([
        packet,
        this.closed.then(() => (this.cursor < this.packets.items.length ? packet : undefined)),
      ]),
      timeoutMs,
      'a packet or the close',
    );
  }

  /** Packets received so far and not yet returned by `next`. */
  unread(): Packet[] {
    return this.packets.items.slice(this.cursor);
  }

  /** Asserts that no packet (of type `cmd`) arrives within `ms`. */
  async nothingFor(ms: number, cmd?: string): Promise<void> {
    const before = this.packets.items.length;
    await new Promise((r) => setTimeout(r, ms));
    const extra = this.packets.items.slice(before).filter((p) => !cmd || p.cmd === cmd);
    assert.deepEqual(
      extra.map((p) => p.cmd),
      [],
      `no ${cmd ?? 'packet'} expected within ${ms} ms`,
    );
  }

  async expectClosed(timeoutMs = 3000): Promise<void> {
    await within(this.closed, timeoutMs, 'the server to close the connection');
  }

  /** Waits for DISCONNECT (v5) with `reason` and for the close. */
  async expectDisconnect(reason: number, timeoutMs = 3000): Promise<IDisconnectPacket> {
    const packet = (await this.next('disconnect', timeoutMs)) as IDisconnectPacket;
    assert.equal(
      packet.reasonCode,
      reason,
      `DISCONNECT reason 0x${packet.reasonCode?.toString(16)} (${packet.properties?.reasonString})`,
    );
    await this.expectClosed(timeoutMs);
    return packet;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Opens a raw connection the server refuses, sends CONNECT, returns the CONNACK after asserting the close. */
export async function refusedConnack(port: number, version: MqttVersion): Promise<IConnackPacket> {
  const raw = await RawMqtt.open(port, version);
  raw.send(connectPacket(version));
  const connack = (await raw.next('connack')) as IConnackPacket;
  await raw.expectClosed();
  return connack;
}

// --- mosquitto command line clients ----------------------------------------------------------

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion (it must exit by itself), capturing its output. */
export function run(
  command: string,
  args: string[],
  input?: Buffer | string,
  timeoutMs = 10_000,
): {
  done: Promise<RunResult>;
  child: ChildProcess;
} {
  // A missing program fails at once, not after the test's time-out (npm test installs them).
  if (command.startsWith('/') && !existsSync(command)) {
    throw new Error(`${command} is not installed (its Debian package: see scripts/system-packages.mjs)`);
  }
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  if (input !== undefined) child.stdin.end(input);
  else child.stdin.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<RunResult>((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
  return { done, child };
}

// --- hand-made packets (for what mqtt-packet refuses to generate) ------------------------------

/** A Variable Byte Integer (MQTT 5 §1.5.5). */
export function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return Buffer.from(out);
}

/** A UTF-8 string or binary data with its two-byte length. */
export function lstr(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s) : s;
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}

/** A whole control packet: first byte, Remaining Length, body. */
export function rawPacket(firstByte: number, ...body: (Buffer | number[])[]): Buffer {
  const b = Buffer.concat(body.map((x) => (Buffer.isBuffer(x) ? x : Buffer.from(x))));
  return Buffer.concat([Buffer.from([firstByte]), varint(b.length), b]);
}

/** A CONNECT packet built byte by byte (no will, no credentials unless in `payload`). */
export function rawConnect(o: {
  name?: string;
  level?: number;
  flags?: number;
  keepalive?: number;
  /** v5 properties, already encoded (without their length). */
  props?: Buffer;
  clientId?: string;
  payload?: Buffer;
}): Buffer {
  const level = o.level ?? 4;
  const ka = Buffer.alloc(2);
  ka.writeUInt16BE(o.keepalive ?? 60);
  const props = level === 5 ? Buffer.concat([varint(o.props?.length ?? 0), o.props ?? Buffer.alloc(0)]) : [];
  return rawPacket(
    0x10,
    lstr(o.name ?? 'MQTT'),
    [level, o.flags ?? 0x02],
    ka,
    props,
    lstr(o.clientId ?? uniqueId('raw')),
    o.payload ?? Buffer.alloc(0),
  );
}

/** Loopback, MQTT on `mqttPort`, every other listener on a free port. */
export function mqttOnlyConfig(mqttPort: number): PulseConfig {
  const config = defaultConfig();
  Object.assign(config.server, { host: '127.0.0.1', port: 0 });
  Object.assign(config.transport, { tcp_port: 0 });
  Object.assign(config.metrics, { port: 0 });
  Object.assign(config.mqtt, { port: mqttPort });
  return config;
}
