import type { MqttVersion, Packet } from '@pulse/protocol';

/** What the answers to a connected client's packets need of its link (the link implements it). */
export interface MqttAnswer {
  readonly version: MqttVersion;
  writePacket(packet: Packet): void;
  /** Closes after DISCONNECT with `reason` (MQTT 5 only; 3.1.1 just closes). */
  disconnect(reason: number, message: string): void;
}
