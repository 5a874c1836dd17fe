import type { PulseClient } from './client.js';
import { PulseClientError } from './errors.js';

type Data = Record<string, unknown> | undefined;

/**
 * The presence the application asked for (channel → data), joined again with its latest data
 * on every new connection: the server forgets a connection's presence when it closes.
 */
export class PresenceKeeper {
  private readonly joined = new Map<string, Data>();

  constructor(
    private readonly connection: () => PulseClient | undefined,
    private readonly onError: (err: Error) => void,
  ) {}

  /** Recorded at once; the promise says whether the current connection (if any) took it. */
  join(channel: string, data?: Record<string, unknown>): Promise<void> {
    this.joined.set(channel, data);
    return this.apply(channel, (c) => c.presence.join(channel, data));
  }

  /** Replaces the data of a join (recorded only when joined: otherwise the server answers 1008). */
  update(channel: string, data?: Record<string, unknown>): Promise<void> {
    if (this.joined.has(channel)) this.joined.set(channel, data);
    return this.apply(channel, (c) => c.presence.update(channel, data));
  }

  leave(channel: string): Promise<void> {
    this.joined.delete(channel);
    return this.apply(channel, (c) => c.presence.leave(channel));
  }

  /** Joins every recorded channel on a new connection. */
  restore(client: PulseClient): void {
    for (const [channel, data] of this.joined) {
      client.presence.join(channel, data).catch((err: unknown) => {
        if (!(err instanceof PulseClientError) && this.joined.get(channel) === data)
          this.joined.delete(channel);
        this.onError(err as Error);
      });
    }
  }

  /**
   * Sends `op` when connected; a refusal by the server forgets the channel. Offline nothing is
   * sent: what was recorded is applied on connect.
   */
  private apply(channel: string, op: (c: PulseClient) => Promise<void>): Promise<void> {
    const client = this.connection();
    if (!client) return Promise.resolve();
    return op(client).catch((err: unknown) => {
      if (!(err instanceof PulseClientError)) this.joined.delete(channel);
      throw err;
    });
  }
}
