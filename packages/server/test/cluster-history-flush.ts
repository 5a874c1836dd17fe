import { Redis } from 'ioredis';

/** Deletes every cluster history stream on the engine server at `url`, as an operator's flush would. */
export async function flushHistory(kind: 'redis' | 'nats', url: string): Promise<void> {
  if (kind === 'redis') {
    const redis = new Redis(url);
    try {
      await redis.flushall();
    } finally {
      redis.disconnect();
    }
    return;
  }
  throw new Error('nats flush: not yet');
}
