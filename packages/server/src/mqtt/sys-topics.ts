import { Publication } from '@pulse/core';
import type { MqttStats } from './mqtt-stats.js';

/** What the `$SYS` topics report on and publish through (MqttService). */
export interface SysTopicsSource {
  readonly stats: MqttStats;
  readonly sessions: { readonly size: number };
  readonly retained: { readonly size: number };
  readonly broker: { readonly stats: { readonly subscriptions: number } };
  queueDepths(): { inflight: number; queued: number };
  routeInternal(publication: Publication): void;
}

/**
 * Mosquitto-style `$SYS/broker/...` topics, published as retained messages every interval.
 * Wildcards in the first level never match them (MQTT 5 §4.7.2), so `#` does not see them.
 */
export class SysTopics {
  private timer: NodeJS.Timeout | undefined;
  private readonly startedAt = Date.now();
  private lastReceived = 0;
  private lastSent = 0;
  private lastAt = Date.now();
  /** One-minute exponential moving averages of messages per second, as Mosquitto reports. */
  private receivedRate = 0;
  private sentRate = 0;

  constructor(
    private readonly service: SysTopicsSource,
    private readonly version: string,
  ) {}

  start(intervalMs: number): void {
    if (intervalMs <= 0) return;
    this.publish();
    this.timer = setInterval(() => this.publish(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  publish(): void {
    const s = this.service.stats;
    const received = s.publishesIn[0] + s.publishesIn[1] + s.publishesIn[2];
    const sent = s.publishesOut[0] + s.publishesOut[1] + s.publishesOut[2];
    const now = Date.now();
    const seconds = Math.max(0.001, (now - this.lastAt) / 1000);
    const weight = 1 - Math.exp(-seconds / 60);
    this.receivedRate += ((received - this.lastReceived) / seconds - this.receivedRate) * weight;
    this.sentRate += ((sent - this.lastSent) / seconds - this.sentRate) * weight;
    const { inflight, queued } = this.service.queueDepths();
    const values: Record<string, string> = {
      version: `pulse ${this.version}`,
      uptime: `${Math.floor((now - this.startedAt) / 1000)} seconds`,
      'clients/connected': String(s.connectionsOpen),
      'clients/total': String(this.service.sessions.size),
      'messages/received': String(received),
      'messages/sent': String(sent),
      'messages/inflight': String(inflight),
      'messages/queued': String(queued),
      'retained messages/count': String(this.service.retained.size),
      'subscriptions/count': String(this.service.broker.stats.subscriptions),
      'load/messages/received/1min': this.receivedRate.toFixed(2),
      'load/messages/sent/1min': this.sentRate.toFixed(2),
    };
    this.lastReceived = received;
    this.lastSent = sent;
    this.lastAt = now;
    for (const [name, value] of Object.entries(values)) {
      this.service.routeInternal(
        new Publication({ channel: `$SYS/broker/${name}`, payload: Buffer.from(value), retain: true }),
      );
    }
  }
}
