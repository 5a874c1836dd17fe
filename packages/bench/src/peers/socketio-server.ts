/**
 * Socket.IO rooms, as its documentation shows them: `join` puts the socket in a room (and acks),
 * `pub` relays the payload to everyone in the room with `io.to(room).emit('msg', payload)`.
 *
 * Usage: node socketio-server.js --host 127.0.0.1 --port 8091
 */
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { Server } from 'socket.io';

const { values } = parseArgs({ options: { host: { type: 'string' }, port: { type: 'string' } } });
const http = createServer();
const io = new Server(http, { serveClient: false, transports: ['websocket'] });

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
