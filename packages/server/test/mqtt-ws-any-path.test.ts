import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import WebSocket from 'ws';
import { freePort, wsClient } from './helpers.js';
import { endAll, mqttClient, run, uniqueId, withMqtt } from './mqtt-helpers.js';

/** The status of a refused WebSocket handshake (or 101 when it was accepted). */
async function handshakeStatus(url: string, subprotocol?: string): Promise<number> {
  const ws = new WebSocket(url, subprotocol);
  ws.on('error', () => {});
  const outcome = await Promise.race([
    once(ws, 'open').then(() => 101),
    once(ws, 'unexpected-response').then(([, res]) => (res as { statusCode: number }).statusCode),
  ]);
  ws.terminate();
  return outcome;
}

test('MQTT over WebSocket is served on any path an MQTT client offers its subprotocol on', async () => {
  await withMqtt({}, async (h) => {
    const base = h.httpUrl.replace('http:', 'ws:');
    const sub = await mqttClient(`${base}/`, { protocolVersion: 5 });
    await sub.subscribeAsync('anypath/#', { qos: 1 });
    for (const [path, protocolVersion] of [
      ['/', 4],
      ['/anything', 5],
      ['/some/deeper/path?x=1', 4],
      ['/mqtt', 5],
      ['/anything', 3],
    ] as const) {
      const pub = await mqttClient(`${base}${path}`, {
        protocolVersion,
        protocolId: protocolVersion === 3 ? 'MQIsdp' : 'MQTT',
      });
      await pub.publishAsync(`anypath/v${protocolVersion}`, path, { qos: 1 });
      const [got] = await sub.inbox.waitFor(1);
      assert.ok(got !== undefined);
      sub.inbox.items.length = 0;
      assert.equal(got.payload.toString(), path, `published over ${path}`);
      await endAll(pub);
    }
    // The native endpoint and the HTTP paths keep their meaning.
    const native = await wsClient(h);
    await native.publish('anypath/native', 'n');
    assert.equal(at(await sub.inbox.waitFor(1), 0).payload.toString(), 'n');
    await native.close();
    for (const path of ['/health', '/healthz', '/api', '/api/publish']) {
      assert.equal(await handshakeStatus(`${base}${path}`, 'mqtt'), 404, `${path} is not MQTT`);
    }
    // Without an MQTT subprotocol an unknown path is still 404; /mqtt still requires one (400).
    assert.equal(await handshakeStatus(`${base}/`), 404);
    assert.equal(await handshakeStatus(`${base}/other`, 'chat'), 404);
    assert.equal(await handshakeStatus(`${base}/mqtt`), 400);
    await endAll(sub);
  });
});

test("MQTT.js's command line client publishes over ws:// to the server's root path", async () => {
  await withMqtt({}, async (h) => {
    const sub = await mqttClient(h.tcpUrl);
    await sub.subscribeAsync('cli/ws', { qos: 1 });
    const cli = join(dirname(createRequire(import.meta.url).resolve('mqtt')), 'bin', 'mqtt.js');
    const port = new URL(h.httpUrl).port;
    const { done } = run(process.execPath, [
      cli,
      'pub',
      ...['-C', 'ws', '-h', '127.0.0.1', '-p', port, '-i', uniqueId('cli')],
      ...['-q', '1', '-t', 'cli/ws', '-m', 'over the root path'],
    ]);
    const [got] = await sub.inbox.waitFor(1, 10_000);
    assert.ok(got !== undefined);
    assert.equal(got.payload.toString(), 'over the root path');
    const result = await done;
    assert.equal(result.code, 0, result.stderr);
    await endAll(sub);
  });
});

test('the mqtt.ws_port listener takes MQTT upgrades on any path too', async () => {
  const wsPort = await freePort();
  await withMqtt({ mqtt: { ws_port: wsPort } }, async (h) => {
    const sub = await mqttClient(h.tcpUrl);
    await sub.subscribeAsync('wsport/#', { qos: 1 });
    for (const path of ['/', '/mqtt', '/elsewhere']) {
      const pub = await mqttClient(`ws://127.0.0.1:${wsPort}${path}`);
      await pub.publishAsync('wsport/x', path, { qos: 1 });
      const [got] = await sub.inbox.waitFor(1);
      assert.ok(got !== undefined);
      sub.inbox.items.length = 0;
      assert.equal(got.payload.toString(), path);
      await endAll(pub);
    }
    assert.equal(await handshakeStatus(`ws://127.0.0.1:${wsPort}/elsewhere`), 404, 'no MQTT subprotocol');
    await endAll(sub);
  });
});
