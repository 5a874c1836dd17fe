import { once } from 'node:events';
import { type Server, type Socket, connect, createServer } from 'node:net';

export type Direction = 'toServer' | 'toClient';

interface Pair {
  readonly client: Socket;
  readonly upstream: Socket;
  readonly held: Record<Direction, Buffer[]>;
}

/**
 * A TCP proxy between a node and its engine server that can hold the bytes of one direction
 * and then let them all go in one write: a test sets the order in which a node hears the other
 * nodes (and when they hear it), with the real engine server and the real protocol in between.
 */
export class HoldingProxy {
  private readonly pairs = new Set<Pair>();
  private readonly holding: Record<Direction, boolean> = { toServer: false, toClient: false };

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  /** A proxy to the engine server at `url` (host 127.0.0.1); `url` is the proxy's own, same scheme. */
  static async start(target: string): Promise<{ proxy: HoldingProxy; url: string }> {
    const targetUrl = new URL(target);
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const proxy = new HoldingProxy(server, (server.address() as { port: number }).port);
    server.on('connection', (client) => proxy.accept(client, Number(targetUrl.port)));
    const url = new URL(target);
    url.port = String(proxy.port);
    return { proxy, url: url.toString().replace(/\/$/, '') };
  }

  /** From now on, the bytes going `direction` wait here. */
  hold(direction: Direction): void {
    this.holding[direction] = true;
  }

  /** Bytes waiting to go `direction`, over every connection. */
  heldBytes(direction: Direction): number {
    let n = 0;
    for (const pair of this.pairs) for (const b of pair.held[direction]) n += b.length;
    return n;
  }

  /** The bytes held going `direction` go, one write per connection, and bytes flow again. */
  release(direction: Direction): void {
    this.holding[direction] = false;
    for (const pair of this.pairs) {
      const held = pair.held[direction];
      if (held.length === 0) continue;
      (direction === 'toServer' ? pair.upstream : pair.client).write(Buffer.concat(held));
      held.length = 0;
    }
  }

  /** Stops; bytes already read still go (a node's last words before it stopped). */
  async close(): Promise<void> {
    this.release('toServer');
    this.release('toClient');
    // The upstream side ends once its node's side has closed (and what it wrote has gone on).
    for (const pair of this.pairs) pair.client.end();
    this.server.close();
    await once(this.server, 'close');
  }

  private accept(client: Socket, targetPort: number): void {
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    client.on('error', () => {});
    upstream.on('error', () => {});
    const pair: Pair = { client, upstream, held: { toServer: [], toClient: [] } };
    this.pairs.add(pair);
    client.on('data', (d: Buffer) => {
      if (this.holding.toServer) pair.held.toServer.push(d);
      else upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      if (this.holding.toClient) pair.held.toClient.push(d);
      else client.write(d);
    });
    // One side closed: what it wrote last still goes to the other (a node's goodbye), then that ends too.
    client.on('close', () => {
      this.pairs.delete(pair);
      upstream.end();
    });
    upstream.on('close', () => {
      this.pairs.delete(pair);
      client.end();
    });
  }
}
