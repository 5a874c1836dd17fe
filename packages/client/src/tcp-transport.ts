import { connect } from 'node:net';
import type { ClientTransport } from './transport.js';

/** Native frames over raw TCP (Node only). */
export function openTcp(host: string, port: number): Promise<ClientTransport> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, noDelay: true });
    const transport: ClientTransport = {
      send: (bytes) => {
        socket.write(bytes);
      },
      close: () => socket.end(),
      onBytes: () => {},
      onClose: () => {},
    };
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.on('error', () => {});
      resolve(transport);
    });
    socket.once('error', reject);
    socket.on('data', (chunk) => transport.onBytes(chunk));
    socket.on('close', () => transport.onClose(1006, 'socket closed'));
  });
}
