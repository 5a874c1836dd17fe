/**
 * The "tutorial" broadcast server the benchmark compares against: plain `ws`, rooms in a Map, the
 * first message of a client names the room it joins, every later message is sent with
 * `client.send(data)` to each other member of that room. The only addition to the usual tutorial is
 * the `joined` reply, so a load generator knows when the join took effect.
 *
 * Usage: node naive-ws-server.js --host 127.0.0.1 --port 8090
 */
import { parseArgs } from 'node:util';
import { type WebSocket, WebSocketServer } from 'ws';

const { values } = parseArgs({ options: { host: { type: 'string' }, port: { type: 'string' } } });
const wss = new WebSocketServer({ host: values.host ?? '127.0.0.1', port: Number(values.port ?? 8090) });
const rooms = new Map<string, Set<WebSocket>>();

wss.on('connection', (ws) => {
  let room: Set<WebSocket> | null = null;
  ws.on('message', (data, isBinary) => {
    if (room === null) {
      const name = data.toString();
      room = rooms.get(name) ?? new Set();
      rooms.set(name, room);
      room.add(ws);
      ws.send('joined');
      return;
    }
    for (const client of room) {
      if (client !== ws && client.readyState === client.OPEN) client.send(data, { binary: isBinary });
    }
  });
  ws.on('close', () => room?.delete(ws));
});

// Started with an IPC channel by the benchmark: go away with it.
process.on('disconnect', () => process.exit(0));
