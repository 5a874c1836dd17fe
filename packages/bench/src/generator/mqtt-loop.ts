import { MARKER_LENGTH, markedPayload, nowMicros, writeStamp } from './marker.js';
import type { AckListener, MqttClient } from './mqtt-client.js';
import { PUBACK, PUBCOMP, PUBREC, PUBREL, publishIdOffset, publishPacket, type Qos } from './mqtt-packets.js';
import type { Pacing } from './publish-loop.js';

/** Longest burst an open loop sends at once to catch up after a late timer. */
const MAX_CATCH_UP = 256;
/** A closed loop with no progress for this long assumes its outstanding publications were dropped. */
const STALL_MS = 1000;

const FREE = 0;
const AWAIT_ACK = 1;
const AWAIT_COMP = 2;

/**
 * Drives one MQTT publisher. A batch is the PUBLISH packet built once, repeated with
 * `Buffer.fill`, with the send time stamped into each copy's marker and (QoS 1/2) a fresh packet
 * id patched in; it goes out as one write. For QoS 1/2 the loop answers PUBREC with PUBREL and
 * counts a publication acknowledged at PUBACK or PUBCOMP.
 *
 * A closed loop keeps at most `window` publications outstanding, counting both ways a publication
 * can be outstanding: not yet received by the lead subscriber, and (QoS 1/2) not yet acknowledged
 * to the publisher. So neither the broker's queue towards the subscriber nor its unacknowledged
 * set grows without bound.
 */
export class MqttPublishLoop implements AckListener {
  sent = 0;
  /** Publications whose QoS 1/2 handshake with the broker completed. */
  acked = 0;
  stalls = 0;
  private readonly template: Buffer;
  private readonly idAt: number;
  private readonly digitsAt: number;
  private readonly digits = Buffer.alloc(MARKER_LENGTH);
  private readonly ids: Uint8Array | null;
  private nextId = 1;
  private leadBase = 0;
  /** Acknowledgements given up on after a stall. */
  private lost = 0;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private startedAt = 0;
  private sentAtStart = 0;
  private lastProgress = -1;
  private lastProgressAt = 0;

  constructor(
    private readonly publisher: MqttClient,
    private readonly lead: MqttClient | null,
    payloadSize: number,
    private readonly qos: Qos,
    private readonly pacing: Pacing,
  ) {
    this.template = publishPacket(publisher.topic, markedPayload(payloadSize), qos, 1);
    const markerAt = this.template.indexOf('@@');
    if (markerAt < 0) throw new Error('the marker is not in the PUBLISH bytes');
    this.digitsAt = markerAt;
    this.idAt = qos > 0 ? publishIdOffset(this.template) : -1;
    this.ids = qos > 0 ? new Uint8Array(65536) : null;
    if (pacing.kind === 'window' && lead === null && qos === 0) {
      throw new Error('a closed QoS 0 loop needs a lead subscriber');
    }
    publisher.ackListener = this;
  }

  start(): void {
    this.running = true;
    this.startedAt = performance.now();
    this.sentAtStart = this.sent;
    if (this.pacing.kind === 'window') {
      if (this.lead) {
        this.leadBase = this.lead.count - this.sent;
        this.lead.afterChunk = () => this.pump();
      }
      this.lost = this.sent - this.acked;
      if (this.qos > 0) this.publisher.afterChunk = () => this.pump();
      this.lastProgressAt = performance.now();
      this.timer = setInterval(() => this.watchdog(), STALL_MS / 2);
      this.pump();
    } else {
      const rate = this.pacing.rate;
      this.timer = setInterval(() => {
        const due =
          Math.floor(((performance.now() - this.startedAt) * rate) / 1000) - (this.sent - this.sentAtStart);
        if (due > 0) this.publish(Math.min(due, MAX_CATCH_UP));
      }, 1);
    }
  }

  /** Stops publishing; acknowledgements still in flight keep being answered and counted. */
  stop(): void {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.lead) this.lead.afterChunk = null;
    this.publisher.afterChunk = null;
  }

  private outstanding(): number {
    const unreceived = this.lead ? this.sent - (this.lead.count - this.leadBase) : 0;
    const unacked = this.qos > 0 ? this.sent - this.acked - this.lost : 0;
    return unreceived > unacked ? unreceived : unacked;
  }

  private pump(): void {
    if (!this.running || this.pacing.kind !== 'window') return;
    const outstanding = this.outstanding();
    if (outstanding < this.pacing.window) this.publish(this.pacing.window - outstanding);
  }

  private progress(): number {
    return (this.lead?.count ?? 0) + this.acked;
  }

  private watchdog(): void {
    const progress = this.progress();
    const now = performance.now();
    if (progress !== this.lastProgress) {
      this.lastProgress = progress;
      this.lastProgressAt = now;
      return;
    }
    if (now - this.lastProgressAt < STALL_MS) return;
    // Nothing arrived for a while: whatever is outstanding was lost. Start a fresh window.
    this.stalls++;
    if (this.lead) this.leadBase = this.lead.count - this.sent;
    this.lost = this.sent - this.acked;
    this.lastProgressAt = now;
    this.pump();
  }

  /** A free packet id, or 0 when all 65,535 are outstanding. */
  private allocate(): number {
    const ids = this.ids!;
    for (let tries = 0; tries < 65535; tries++) {
      const id = this.nextId;
      this.nextId = id === 65535 ? 1 : id + 1;
      if (ids[id] === FREE) {
        ids[id] = AWAIT_ACK;
        return id;
      }
    }
    return 0;
  }

  private publish(n: number): void {
    if (!this.publisher.ready || n <= 0) return;
    const size = this.template.length;
    const out = Buffer.allocUnsafe(n * size);
    out.fill(this.template);
    this.digits[0] = 0x40;
    this.digits[1] = 0x40;
    writeStamp(this.digits, 0, nowMicros());
    let written = 0;
    for (let at = 0; at < out.length; at += size) {
      this.digits.copy(out, at + this.digitsAt);
      if (this.qos > 0) {
        const id = this.allocate();
        if (id === 0) break;
        out[at + this.idAt] = id >>> 8;
        out[at + this.idAt + 1] = id & 0xff;
      }
      written++;
    }
    this.sent += written;
    this.publisher.write(written === n ? out : out.subarray(0, written * size));
  }

  onAck(type: number, packetId: number): void {
    const ids = this.ids;
    const state = ids === null ? -1 : ids[packetId];
    if (type === PUBACK && this.qos === 1 && state === AWAIT_ACK) {
      ids![packetId] = FREE;
      this.acked++;
    } else if (type === PUBREC && this.qos === 2 && state === AWAIT_ACK) {
      ids![packetId] = AWAIT_COMP;
      this.publisher.queueAck(PUBREL, packetId);
    } else if (type === PUBREC && this.qos === 2 && state === AWAIT_COMP) {
      // A repeated PUBREC: release again.
      this.publisher.anomalies++;
      this.publisher.queueAck(PUBREL, packetId);
    } else if (type === PUBCOMP && this.qos === 2 && state === AWAIT_COMP) {
      ids![packetId] = FREE;
      this.acked++;
    } else {
      this.publisher.anomalies++;
    }
  }
}

/**
 * Stores `count` retained messages on distinct topics `${prefix}/${i}`, at QoS 1 with `window`
 * unacknowledged, and resolves once the broker acknowledged them all (so every one is stored).
 */
export function publishRetained(
  publisher: MqttClient,
  prefix: string,
  count: number,
  payloadSize: number,
  window: number,
  timeoutMs = 30_000,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const payload = markedPayload(payloadSize);
    const waiting = new Uint8Array(65536);
    let sent = 0;
    let acked = 0;
    const timer = setTimeout(() => {
      finish();
      reject(new Error(`only ${acked} of ${count} retained messages acknowledged in ${timeoutMs} ms`));
    }, timeoutMs);
    const finish = (): void => {
      clearTimeout(timer);
      publisher.ackListener = null;
      publisher.afterChunk = null;
    };
    const pump = (): void => {
      const parts: Buffer[] = [];
      while (sent < count && sent - acked < window) {
        const id = (sent % 65535) + 1;
        waiting[id] = 1;
        parts.push(publishPacket(`${prefix}/${sent}`, payload, 1, id, true));
        sent++;
      }
      if (parts.length > 0) publisher.write(Buffer.concat(parts));
    };
    publisher.ackListener = {
      onAck(type, packetId) {
        if (type !== PUBACK || waiting[packetId] !== 1) {
          publisher.anomalies++;
          return;
        }
        waiting[packetId] = 0;
        acked++;
        if (acked === count) {
          finish();
          resolve();
        }
      },
    };
    publisher.afterChunk = pump;
    pump();
  });
}
