import { type Logger, pino } from 'pino';

export type { Logger };

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino({ name: 'pulse', level, base: { pid: process.pid } }, destination ?? process.stdout);
}
