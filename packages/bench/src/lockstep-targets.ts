/** The lock-step section's targets (l1-l3) and their labels. */
export const L1_TARGETS = ['pulse', 'pulse-sqlite-balanced', 'mosquitto-persist'] as const;
export const L2_TARGETS = ['pulse', 'mosquitto-persist'] as const;
/** l3's runs: protocol, then target. */
export const L3_RUNS = [
  'mqtt-pulse',
  'mqtt-mosquitto-persist',
  'mqtt-mqtt-relay',
  'ws-pulse',
  'ws-nats',
  'ws-naive-ws',
] as const;
export type L1Target = (typeof L1_TARGETS)[number];
export type L2Target = (typeof L2_TARGETS)[number];
export type L3Run = (typeof L3_RUNS)[number];
/** nats-server, and the Node floors of l3 (a bare MQTT relay, the tutorial ws server). */
export type SectionTarget = L1Target | 'nats' | 'naive-ws' | 'mqtt-relay';

export const LOCKSTEP_LABELS: Record<L1Target | L3Run, string> = {
  pulse: 'Pulse memory',
  'pulse-sqlite-balanced': 'Pulse sqlite balanced',
  'mosquitto-persist': 'Mosquitto persist',
  'mqtt-pulse': 'Pulse MQTT',
  'mqtt-mosquitto-persist': 'Mosquitto persist',
  'ws-pulse': 'Pulse native WebSocket',
  'ws-nats': 'nats-server WebSocket',
  'mqtt-mqtt-relay': 'Node MQTT relay (floor)',
  'ws-naive-ws': 'naive ws (floor)',
};
