import type { HistoryRule, StreamPosition } from '@pulse/core';
import type { EngineOptions } from './cluster-engine.js';
import type { ClusterHistory, StreamQuery, StreamRead } from './cluster-history.js';

export class NatsHistory implements ClusterHistory {
  readonly kind = 'nats';
  readonly ready = false;
  constructor(readonly options: EngineOptions) {}
  async start(): Promise<void> {}
  async append(
    _channel: string,
    _rule: HistoryRule,
    _entry: Buffer,
    _expiresAt: number | undefined,
    _seen: StreamPosition | undefined,
  ): Promise<StreamPosition> {
    throw new Error('not yet');
  }
  async read(_channel: string, _rule: HistoryRule, _query: StreamQuery): Promise<StreamRead> {
    throw new Error('not yet');
  }
  async close(): Promise<void> {}
}
