import type { Dialect } from '../generator/dialect.js';
import { naiveWsDialect } from './naive-ws.js';
import { natsDialect } from './nats.js';
import { pulseDialect } from './pulse.js';
import { socketIoDialect } from './socketio.js';

/** Targets of the WebSocket scenarios (a, b, c). */
export const WS_TARGET_NAMES = ['pulse', 'naive-ws', 'socketio', 'nats'] as const;
export type WsTargetName = (typeof WS_TARGET_NAMES)[number];

/**
 * Targets of the MQTT scenarios (m1, m2, m3): Pulse's MQTT listener and two MQTT brokers, Mosquitto
 * twice: with its default TCP settings (Nagle on) and with `set_tcp_nodelay true`.
 */
export const MQTT_TARGET_NAMES = ['pulse', 'mosquitto', 'mosquitto-nodelay', 'aedes'] as const;
export type MqttTargetName = (typeof MQTT_TARGET_NAMES)[number];

/**
 * Targets of the durable scenario (d1): Pulse in memory (`pulse`, the baseline), Pulse on SQLite
 * under each commit policy, and Mosquitto with persistence on, snapshotting as shipped (every
 * 30 min) and after every change.
 */
export const DURABLE_TARGET_NAMES = [
  'pulse',
  'pulse-sqlite-strict',
  'pulse-sqlite-balanced',
  'pulse-sqlite-fast',
  'mosquitto-persist',
  'mosquitto-persist-eager',
] as const;
export type DurableTargetName = (typeof DURABLE_TARGET_NAMES)[number];

/** Every target, in the order they run and appear in the tables. */
export const TARGET_NAMES = [
  'pulse',
  'naive-ws',
  'socketio',
  'nats',
  'mosquitto',
  'mosquitto-nodelay',
  'aedes',
  'pulse-sqlite-strict',
  'pulse-sqlite-balanced',
  'pulse-sqlite-fast',
  'mosquitto-persist',
  'mosquitto-persist-eager',
  'mqtt-relay',
] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

export function isWsTarget(name: TargetName): name is WsTargetName {
  return (WS_TARGET_NAMES as readonly string[]).includes(name);
}

export function isMqttTarget(name: TargetName): name is MqttTargetName {
  return (MQTT_TARGET_NAMES as readonly string[]).includes(name);
}

export function isDurableTarget(name: TargetName): name is DurableTargetName {
  return (DURABLE_TARGET_NAMES as readonly string[]).includes(name);
}

export const DIALECTS: Record<WsTargetName, Dialect> = {
  pulse: pulseDialect,
  'naive-ws': naiveWsDialect,
  socketio: socketIoDialect,
  nats: natsDialect,
};
