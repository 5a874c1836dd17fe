import { connect } from '@nats-io/transport-node';
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
  const nc = await connect({ servers: url });
  try {
    const names = JSON.parse(
      Buffer.from((await nc.request('$JS.API.STREAM.NAMES', '{}')).data).toString(),
    ) as {
      streams: string[] | null;
    };
    for (const name of names.streams ?? []) {
      if (name.startsWith('PULSE_H_')) await nc.request(`$JS.API.STREAM.DELETE.${name}`, '');
    }
  } finally {
    await nc.close();
  }
}
