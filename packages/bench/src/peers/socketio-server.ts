/**
 * Socket.IO rooms, as its documentation shows them: `join` puts the socket in a room (and acks),
 * `pub` relays the payload to everyone in the room with `io.to(room).emit('msg', payload)`.
 * With `--redis URL`, the server is one node of several joined by `@socket.io/redis-adapter`, set up
 * as its README shows: an ioredis pub client and its duplicate for subscribing.
 *
 * Usage: node socketio-server.js --host 127.0.0.1 --port 8091 [--redis redis://127.0.0.1:6379]
 */
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';

const { values } = parseArgs({
  options: { host: { type: 'string' }, port: { type: 'string' }, redis: { type: 'string' } },
});
const http = createServer();
const io = new Server(http, { serveClient: false, transports: ['websocket'] });

if (values.redis) {
  const pubClient = new Redis(values.redis);
  const subClient = pubClient.duplicate();
  io.adapter(createAdapter(pubClient, subClient));
  // Listen only once both clients are up: the bench takes an open port for a joined node.
  await Promise.all([pubClient, subClient].map((c) => new Promise((ok) => c.once('ready', ok))));
}

io.on('connection', (socket) => {
  socket.on('join', (room: string, ack?: () => void) => {
    socket.join(room);
    if (typeof ack === 'function') ack();
  });
  socket.on('pub', (room: string, payload: unknown) => {
    io.to(room).emit('msg', payload);
  });
});

http.listen(Number(values.port ?? 8091), values.host ?? '127.0.0.1');

process.on('disconnect', () => process.exit(0));
