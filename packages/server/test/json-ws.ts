import { once } from 'node:events';
import WebSocket from 'ws';
import { type Harness, Inbox } from './helpers.js';

// biome-ignore lint/suspicious/noExplicitAny: JSON replies are checked field by field
type Json = any;

/** A raw `ws` client speaking the JSON protocol. */
export class JsonWs {
  readonly pushes = new Inbox<Json>();
  readonly replies = new Inbox<Json>();
  readonly closed: Promise<number>;
  private nextId = 1;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) return;
      const message = JSON.parse(data.toString('utf8'));
      if ('id' in message) this.replies.push(message);
      else this.pushes.push(message);
    });
    this.closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));
  }

  static async open(h: Harness): Promise<JsonWs> {
    const ws = new WebSocket(h.wsUrl);
    const client = new JsonWs(ws);
    await once(ws, 'open');
    return client;
  }

  async ok(method: string, params?: unknown): Promise<Json> {
    const id = this.nextId++;
    this.ws.send(JSON.stringify({ id, method, params }));
    for (;;) {
      const replies = await this.replies.waitFor(this.replies.items.length + 1);
      const reply = replies.find((r: Json) => r.id === id);
      if (reply) {
        if (reply.error) throw new Error(reply.error.message);
        return reply.result;
      }
    }
  }

  publications(channel: string): Json[] {
    return this.pushes.items.filter((p) => p.method === 'publication' && p.params.channel === channel);
  }

  close(): void {
    this.ws.close();
  }
}
