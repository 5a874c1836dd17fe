import type { Dialect } from '../generator/dialect.js';
import { naiveWsDialect } from './naive-ws.js';
import { natsDialect } from './nats.js';
import { pulseDialect } from './pulse.js';
import { socketIoDialect } from './socketio.js';

export const TARGET_NAMES = ['pulse', 'naive-ws', 'socketio', 'nats'] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

export const DIALECTS: Record<TargetName, Dialect> = {
  pulse: pulseDialect,
  'naive-ws': naiveWsDialect,
  socketio: socketIoDialect,
  nats: natsDialect,
};
