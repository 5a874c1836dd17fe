import WebSocket from 'ws';
import { sleep } from './server-process.js';

export interface GcProbe {
  /** V8's used heap after a full collection. */
  heapUsedKiB: number;
}

/**
 * A full garbage collection in a node server, from outside it: SIGUSR1 makes node open its
 * inspector (on 127.0.0.1:`port`, 9229 unless the server was started with --inspect-port), and
 * the inspector's HeapProfiler.collectGarbage runs the collection. No flag or code of the server
 * is involved, so the figures before the probe are those of the server as shipped.
 */
export async function collectGarbage(pid: number, port = 9229): Promise<GcProbe> {
  process.kill(pid, 'SIGUSR1');
  const url = await debuggerUrl(port);
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let nextId = 1;
  const call = (method: string): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const onMessage = (data: WebSocket.RawData) => {
        const reply = JSON.parse(data.toString()) as {
          id?: number;
          result?: Record<string, unknown>;
          error?: unknown;
        };
        if (reply.id !== id) return;
        ws.off('message', onMessage);
        if (reply.error) reject(new Error(`${method}: ${JSON.stringify(reply.error)}`));
        else resolve(reply.result ?? {});
      };
      ws.on('message', onMessage);
      ws.send(JSON.stringify({ id, method }));
    });
  try {
    await call('HeapProfiler.collectGarbage');
    const usage = await call('Runtime.getHeapUsage');
    return { heapUsedKiB: (usage.usedSize as number) / 1024 };
  } finally {
    ws.close();
  }
}

async function debuggerUrl(port: number): Promise<string> {
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      const list = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as {
        webSocketDebuggerUrl?: string;
      }[];
      const url = list[0]?.webSocketDebuggerUrl;
      if (url) return url;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`no inspector on 127.0.0.1:${port} after SIGUSR1`);
    await sleep(50);
  }
}
