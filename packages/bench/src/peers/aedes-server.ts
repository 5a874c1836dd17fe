/**
 * Aedes, the MQTT broker for Node, as its README starts it: `Aedes.createBroker()` with the
 * default in-memory persistence and emitter, `net.createServer(aedes.handle)`; the only change is
 * `noDelay: true` on its sockets.
 *
 * Usage: node aedes-server.js --host 127.0.0.1 --port 1883
 */
import net from 'node:net';
import { parseArgs } from 'node:util';
import { Aedes } from 'aedes';

const { values } = parseArgs({ options: { host: { type: 'string' }, port: { type: 'string' } } });
const aedes = await Aedes.createBroker();
// Nagle off, as Pulse and nats-server have it. With Node's default (on), Aedes's small writes wait
// for the client's delayed ACK: ~14 k messages/s 1 -> 1 at QoS 0, p99 ~46 ms, its core mostly idle.
const server = net.createServer({ noDelay: true }, aedes.handle);
server.listen(Number(values.port ?? 1883), values.host ?? '127.0.0.1');

// Started with an IPC channel by the benchmark: go away with it.
process.on('disconnect', () => process.exit(0));
