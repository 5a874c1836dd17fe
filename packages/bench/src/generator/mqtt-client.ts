import net from 'node:net';
import { READ_BUFFER } from './connection.js';
import type { Role, Tally } from './dialect.js';
import { findStamp, type LatencySamples, nowMicros } from './marker.js';
import {
  CONNACK,
  connectPacket,
  DISCONNECT_PACKET,
  type MqttPacketHandler,
  MqttReader,
  PINGREQ_PACKET,
  PINGRESP,
  PUBACK,
  PUBCOMP,
  PUBREC,
  PUBREL,
  type Qos,
  SUBACK,
  subscribePacket,
  writeAck,
} from './mqtt-packets.js';

/** Keep alive told to the broker; the worker sends PINGREQ well within it. */
export const MQTT_KEEPALIVE_SEC = 60;
/** Bytes of each PUBLISH body a sampling client keeps to find the latency marker in. */
const CAPTURE_BYTES = 512;

export interface MqttConnectOptions {
  host: string;
  port: number;
  clientId: string;
  /** Clean session 1 (default), or 0: a persistent session the broker keeps (and stores). */
  cleanSession?: boolean;
  role: Role;
  /** Topic filter a subscriber subscribes to, or the topic a publisher publishes on. */
  topic: string;
  /** QoS of the subscription. */
  qos: Qos;
  /** Subscribe later with `subscribe()` instead of during setup. */
  deferSubscribe?: boolean;
  tally: Tally;
  samples: LatencySamples | null;
  timeoutMs?: number;
}

/** Told of the acknowledgements a publisher receives (the publish loop). */
export interface AckListener {
  onAck(type: number, packetId: number): void;
}

type State = 'connecting' | 'subscribing' | 'ready' | 'closed';

/**
 * An MQTT 3.1.1 client on a raw socket: CONNECT (+ SUBSCRIBE) during setup, then it counts the
 * PUBLISH packets it receives and acknowledges QoS 1/2 deliveries (PUBACK, PUBREC, then PUBCOMP
 * for the broker's PUBREL). Acknowledgements of one read go out in one write, after it.
 */
export class MqttClient implements MqttPacketHandler {
  readonly role: Role;
  readonly topic: string;
  /** PUBLISH packets received (duplicates of unreleased QoS 2 messages excepted). */
  count = 0;
  /** Packets that make no sense here: unknown packet ids, duplicates, unexpected types. */
  anomalies = 0;
  /** Runs once per received TCP chunk (publish loops hook in there). */
  afterChunk: (() => void) | null = null;
  /** Where a publisher's PUBACK / PUBREC / PUBCOMP go. */
  ackListener: AckListener | null = null;
  /** For a deferred subscription: when it was sent, how many publications complete it, and when they had. */
  subscribedAt = 0;
  expect = 0;
  doneAt = 0;
  onDone: (() => void) | null = null;
  private state: State = 'connecting';
  private readonly reader: MqttReader;
  private readonly out = Buffer.allocUnsafe(16 * 1024);
  private outLength = 0;
  /** QoS 2 packet ids received and not yet released (1 = holding). */
  private inboundQos2: Uint8Array | null = null;

  constructor(
    readonly socket: net.Socket,
    private readonly options: MqttConnectOptions,
    private readonly settle: (err: Error | null) => void,
  ) {
    this.role = options.role;
    this.topic = options.topic;
    this.reader = new MqttReader(this, options.samples ? CAPTURE_BYTES : 0);
  }

  get ready(): boolean {
    return this.state === 'ready';
  }

  /** Sends bytes that are whole packets (after any acknowledgements waiting). */
  write(bytes: Buffer): void {
    if (this.state === 'closed') return;
    this.flushAcks();
    this.socket.write(bytes);
  }

  /** Queues a four-byte acknowledgement for the write after this read. */
  queueAck(type: number, packetId: number): void {
    if (this.outLength + 4 > this.out.length) this.flushAcks();
    this.outLength = writeAck(this.out, this.outLength, type, packetId);
  }

  flushAcks(): void {
    if (this.outLength === 0 || this.state === 'closed') return;
    this.socket.write(Buffer.from(this.out.subarray(0, this.outLength)));
    this.outLength = 0;
  }

  subscribe(packetId = 1): void {
    this.subscribedAt = nowMicros();
    this.write(subscribePacket(packetId, this.topic, this.options.qos));
  }

  ping(): void {
    if (this.state === 'ready') this.write(PINGREQ_PACKET);
  }

  close(): void {
    if (this.state === 'closed') return;
    const wasReady = this.state === 'ready';
    this.state = 'closed';
    if (wasReady) this.socket.end(DISCONNECT_PACKET);
    else this.socket.destroy();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  onConnected(): void {
    this.socket.write(
      connectPacket(this.options.clientId, MQTT_KEEPALIVE_SEC, this.options.cleanSession ?? true),
    );
  }

  onData(chunk: Buffer, length: number): void {
    if (this.state === 'closed') return;
    try {
      this.reader.push(chunk, 0, length);
      if (this.afterChunk !== null) this.afterChunk();
      this.flushAcks();
    } catch (err) {
      this.fail(err as Error);
    }
  }

  onClosed(): void {
    if (this.state === 'ready') this.options.tally.closed++;
    else if (this.state !== 'closed') this.fail(new Error('connection closed during setup'));
    this.state = 'closed';
  }

  fail(err: Error): void {
    if (this.state === 'ready') this.options.tally.closed++;
    this.state = 'closed';
    this.socket.destroy();
    this.settle(err);
  }

  // --- MqttPacketHandler ---

  onPublish(byte0: number, packetId: number, captured: number): void {
    const qos = (byte0 >> 1) & 3;
    if (qos === 1) this.queueAck(PUBACK, packetId);
    else if (qos === 2) {
      if (this.inboundQos2 === null) this.inboundQos2 = new Uint8Array(65536);
      const held = this.inboundQos2;
      this.queueAck(PUBREC, packetId);
      if (held[packetId] === 1) {
        // A resend of a message not yet released: acknowledged again, not delivered again.
        this.anomalies++;
        return;
      }
      held[packetId] = 1;
    }
    this.count++;
    this.options.tally.delivered++;
    const samples = this.options.samples;
    if (samples !== null) {
      const sent = findStamp(this.reader.capture!, 0, captured);
      if (sent >= 0) samples.add(nowMicros() - sent);
    }
    if (this.count === this.expect) {
      this.doneAt = nowMicros();
      this.onDone?.();
    }
  }

  onAck(type: number, packetId: number): void {
    if (type === PUBREL) {
      const held = this.inboundQos2;
      if (held === null || held[packetId] !== 1) this.anomalies++;
      else held[packetId] = 0;
      this.queueAck(PUBCOMP, packetId);
      return;
    }
    if (this.ackListener !== null) this.ackListener.onAck(type, packetId);
    else this.anomalies++;
  }

  onControl(type: number, _byte0: number, body: Buffer): void {
    if (type === CONNACK) {
      if (this.state !== 'connecting') return void this.anomalies++;
      if (body.length < 2 || body[1] !== 0) {
        throw new Error(`CONNACK refused the connection (return code ${body[1]})`);
      }
      if (this.role === 'subscriber' && !this.options.deferSubscribe) {
        this.state = 'subscribing';
        this.subscribe();
      } else this.becomeReady();
    } else if (type === SUBACK) {
      const granted = body[body.length - 1];
      if (body.length < 3 || granted === 0x80) throw new Error(`SUBACK refused ${this.topic}`);
      if (granted !== this.options.qos) this.anomalies++;
      if (this.state === 'subscribing') this.becomeReady();
    } else if (type !== PINGRESP) {
      this.anomalies++;
    }
  }

  private becomeReady(): void {
    this.state = 'ready';
    this.settle(null);
  }
}

/** Opens an MQTT connection and resolves once CONNACK (and SUBACK, for a subscriber) arrived. */
export function connectMqtt(options: MqttConnectOptions): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    let done = false;
    const socket: net.Socket = net.connect({
      host: options.host,
      port: options.port,
      noDelay: true,
      onread: {
        buffer: READ_BUFFER,
        callback: (length: number, buffer: Uint8Array): boolean => {
          client.onData(buffer as Buffer, length);
          return true;
        },
      },
    });
    const timeoutMs = options.timeoutMs ?? 15000;
    const timer = setTimeout(
      () => client.fail(new Error(`setup timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    const client: MqttClient = new MqttClient(socket, options, (err) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(client);
    });
    socket.on('connect', () => client.onConnected());
    socket.on('error', (err: Error) => client.fail(err));
    socket.on('close', () => client.onClosed());
  });
}
