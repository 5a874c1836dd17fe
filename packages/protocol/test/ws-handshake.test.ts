import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { test } from 'node:test';
import WebSocket from 'ws';
import { FrameParser } from '../src/websocket/frame-parser.js';
import { closeFrame, frame } from '../src/websocket/frame-writer.js';
import {
  acceptKey,
  pickSubprotocol,
  switchingProtocolsResponse,
  type UpgradeHeaders,
  upgradeProblem,
} from '../src/websocket/handshake.js';
import { Opcode } from '../src/websocket/opcodes.js';

const RFC_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const RFC_ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

test('acceptKey matches the RFC 6455 §1.3 example', () => {
  assert.equal(acceptKey(RFC_KEY), RFC_ACCEPT);
});

test('acceptKey is SHA-1 of key + GUID, base64 (28 chars)', () => {
  for (let i = 0; i < 20; i++) {
    const key = randomBytes(16).toString('base64');
    const expected = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    const got = acceptKey(key);
    assert.equal(got, expected);
    assert.equal(got.length, 28);
  }
  assert.notEqual(acceptKey(RFC_KEY), acceptKey('x3JJHMbDL1EzLkh9GBhXDw=='));
});

const valid: UpgradeHeaders = { method: 'GET', upgrade: 'websocket', key: RFC_KEY, version: '13' };

test('upgradeProblem accepts a valid handshake', () => {
  assert.equal(upgradeProblem(valid), undefined);
  assert.equal(upgradeProblem({ ...valid, upgrade: 'WebSocket' }), undefined, 'Upgrade is case-insensitive');
  assert.equal(upgradeProblem({ ...valid, upgrade: 'WEBSOCKET' }), undefined);
  for (let i = 0; i < 20; i++) {
    assert.equal(upgradeProblem({ ...valid, key: randomBytes(16).toString('base64') }), undefined);
  }
});

test('upgradeProblem refuses bad handshakes with a reason', () => {
  const bad: Array<[string, UpgradeHeaders, RegExp]> = [
    ['POST', { ...valid, method: 'POST' }, /GET/],
    ['lower-case method', { ...valid, method: 'get' }, /GET/],
    ['no method', { ...valid, method: undefined }, /GET/],
    ['no Upgrade', { ...valid, upgrade: undefined }, /Upgrade/],
    ['empty Upgrade', { ...valid, upgrade: '' }, /Upgrade/],
    ['other Upgrade', { ...valid, upgrade: 'h2c' }, /Upgrade/],
    ['no version', { ...valid, version: undefined }, /Version/],
    ['version 8', { ...valid, version: '8' }, /Version/],
    ['version 13 with spaces', { ...valid, version: ' 13' }, /Version/],
    ['no key', { ...valid, key: undefined }, /Key/],
    ['empty key', { ...valid, key: '' }, /Key/],
    ['key of 15 bytes', { ...valid, key: randomBytes(15).toString('base64') }, /Key/],
    ['key of 17 bytes', { ...valid, key: randomBytes(17).toString('base64') }, /Key/],
    ['key without padding', { ...valid, key: RFC_KEY.slice(0, 22) }, /Key/],
    ['key with invalid characters', { ...valid, key: 'dGhlIHNhbXBsZSBub25j*Q==' }, /Key/],
    ['key with trailing space', { ...valid, key: `${RFC_KEY} ` }, /Key/],
    ['key with a newline', { ...valid, key: `${RFC_KEY}\n` }, /Key/],
  ];
  for (const [name, headers, pattern] of bad) {
    const problem = upgradeProblem(headers);
    assert.equal(typeof problem, 'string', `${name} must be refused`);
    assert.match(problem as string, pattern, name);
  }
});

test('pickSubprotocol picks the first offered protocol that is supported', () => {
  const supported = ['pulse.v1', 'pulse.json'];
  assert.equal(pickSubprotocol(undefined, supported), undefined);
  assert.equal(pickSubprotocol('', supported), undefined);
  assert.equal(pickSubprotocol('mqtt', supported), undefined);
  assert.equal(pickSubprotocol('pulse.v1', supported), 'pulse.v1');
  assert.equal(pickSubprotocol('pulse.json, pulse.v1', supported), 'pulse.json', "the client's order wins");
  assert.equal(pickSubprotocol('mqtt,pulse.v1', supported), 'pulse.v1');
  assert.equal(pickSubprotocol('  mqtt ,   pulse.json  ', supported), 'pulse.json');
  assert.equal(pickSubprotocol('Pulse.V1', supported), undefined, 'protocol names are case-sensitive');
  assert.equal(pickSubprotocol('pulse', supported), undefined, 'no prefix matching');
  assert.equal(pickSubprotocol(',,pulse.v1,', supported), 'pulse.v1');
  assert.equal(pickSubprotocol('pulse.v1', []), undefined);
});

test('switchingProtocolsResponse is a complete 101 response', () => {
  assert.equal(
    switchingProtocolsResponse(RFC_KEY),
    'HTTP/1.1 101 Switching Protocols\r\n' +
      'Upgrade: websocket\r\n' +
      'Connection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${RFC_ACCEPT}\r\n` +
      '\r\n',
  );
  const withProtocol = switchingProtocolsResponse(RFC_KEY, 'pulse.v1');
  assert.ok(withProtocol.endsWith('Sec-WebSocket-Protocol: pulse.v1\r\n\r\n'));
  assert.equal(withProtocol.indexOf('\r\n\r\n'), withProtocol.length - 4, 'exactly one header terminator');
  const lines = withProtocol.split('\r\n');
  assert.equal(lines[0], 'HTTP/1.1 101 Switching Protocols');
  assert.ok(lines.includes(`Sec-WebSocket-Accept: ${RFC_ACCEPT}`));
  assert.equal(lines.length, 7); // status, 4 headers, empty line, empty remainder
  assert.ok(!switchingProtocolsResponse(RFC_KEY, '').includes('Sec-WebSocket-Protocol'));
});

test('a real ws client completes the handshake and exchanges frames', async () => {
  const received: string[] = [];
  const server = createServer((_req, res) => {
    res.writeHead(426).end();
  });
  const sockets: Duplex[] = [];
  server.on('upgrade', (req, socket: Duplex, head: Buffer) => {
    sockets.push(socket);
    const problem = upgradeProblem({
      method: req.method,
      upgrade: req.headers.upgrade,
      key: req.headers['sec-websocket-key'],
      version: req.headers['sec-websocket-version'],
    });
    if (problem) {
      socket.end(`HTTP/1.1 400 Bad Request\r\n\r\n${problem}`);
      return;
    }
    const key = req.headers['sec-websocket-key'] as string;
    const protocol = pickSubprotocol(req.headers['sec-websocket-protocol'], ['pulse.v1']);
    socket.write(switchingProtocolsResponse(key, protocol));
    const parser = new FrameParser(
      {
        onMessage(data, isText) {
          received.push(`${isText ? 'text' : 'binary'}:${data.toString()}`);
          socket.write(frame(isText ? Opcode.Text : Opcode.Binary, data)); // echo
        },
        onPing(data) {
          socket.write(frame(Opcode.Pong, data));
        },
        onPong() {},
        onClose(code) {
          socket.end(closeFrame(code === 1005 ? 1000 : code));
        },
        onProtocolError(code, reason) {
          socket.end(closeFrame(code, reason));
        },
      },
      { maxMessageSize: 1 << 20 },
    );
    if (head.length > 0) parser.push(head);
    socket.on('data', (chunk: Buffer) => parser.push(chunk));
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    const client = new WebSocket(`ws://127.0.0.1:${port}/`, ['mqtt', 'pulse.v1']);
    const echoes: string[] = [];
    const closed = new Promise<[number, string]>((resolve, reject) => {
      client.on('close', (code, reason) => resolve([code, reason.toString()]));
      client.on('error', reject);
    });
    await new Promise<void>((resolve, reject) => {
      client.on('open', resolve);
      client.on('error', reject);
    });
    // ws checked Sec-WebSocket-Accept and the chosen protocol.
    assert.equal(client.protocol, 'pulse.v1');
    const done = new Promise<void>((resolve) => {
      client.on('message', (data, isBinary) => {
        echoes.push(`${isBinary ? 'binary' : 'text'}:${data.toString()}`);
        if (echoes.length === 2) resolve();
      });
    });
    client.send('héllo');
    client.send(Buffer.alloc(70000, 0x61));
    await done;
    client.close(1000, 'bye');
    const [code] = await closed;
    assert.equal(code, 1000);
    assert.deepEqual(echoes, ['text:héllo', `binary:${'a'.repeat(70000)}`]);
    assert.deepEqual(received, echoes);
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('a ws client refuses a server answer with a wrong accept key', async () => {
  const server = createServer();
  const sockets: Duplex[] = [];
  server.on('upgrade', (_req, socket: Duplex) => {
    sockets.push(socket);
    socket.write(switchingProtocolsResponse(RFC_KEY)); // accept key for some other client key
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    const client = new WebSocket(`ws://127.0.0.1:${port}/`);
    const error = await new Promise<Error>((resolve) => client.on('error', resolve));
    assert.match(error.message, /Sec-WebSocket-Accept/);
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});
