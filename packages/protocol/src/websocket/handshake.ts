import { createHash } from 'node:crypto';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const KEY_PATTERN = /^[+/0-9A-Za-z]{22}==$/;

export function acceptKey(secWebSocketKey: string): string {
  return createHash('sha1')
    .update(secWebSocketKey + GUID)
    .digest('base64');
}

export interface UpgradeHeaders {
  method?: string;
  upgrade?: string;
  key?: string;
  version?: string;
}

/** RFC 6455 §4.2.1 checks on an opening handshake; returns why it is refused, or undefined. */
export function upgradeProblem(h: UpgradeHeaders): string | undefined {
  if (h.method !== 'GET') return 'WebSocket upgrade must use GET';
  if (!h.upgrade || h.upgrade.toLowerCase() !== 'websocket') return 'Upgrade header must be "websocket"';
  if (h.version !== '13') return 'Sec-WebSocket-Version must be 13';
  if (!h.key || !KEY_PATTERN.test(h.key)) return 'invalid Sec-WebSocket-Key';
  return undefined;
}

/** Picks the first of the client's offered subprotocols that the server supports. */
export function pickSubprotocol(
  offered: string | undefined,
  supported: readonly string[],
): string | undefined {
  if (!offered) return undefined;
  for (const raw of offered.split(',')) {
    const name = raw.trim();
    if (supported.includes(name)) return name;
  }
  return undefined;
}

export function switchingProtocolsResponse(secWebSocketKey: string, subprotocol?: string): string {
  return (
    'HTTP/1.1 101 Switching Protocols\r\n' +
    'Upgrade: websocket\r\n' +
    'Connection: Upgrade\r\n' +
    `Sec-WebSocket-Accept: ${acceptKey(secWebSocketKey)}\r\n` +
    (subprotocol ? `Sec-WebSocket-Protocol: ${subprotocol}\r\n` : '') +
    '\r\n'
  );
}
