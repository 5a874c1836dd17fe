import { connect } from 'node:net';
import { type ClientTransport, Inlet } from './transport.js';

/** Native frames over raw TCP (Node only). */
export function openTcp(host: string, port: number): Promise<ClientTransport> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, noDelay: true });
    const inlet = new Inlet();
    const transport: ClientTransport = {
      send: (bytes) => {
        socket.write(bytes);
      },
      close: () => socket.end(),
      attach: (onBytes, onClose) => inlet.attach(onBytes, onClose),
    };
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.on('error', () => {});
      resolve(transport);
    });
    socket.once('error', reject);
    socket.on('data', (chunk) => inlet.bytes(chunk));
    socket.on('close', () => inlet.close(1006, 'socket closed'));
  });
}
