// The `pulse` command runs the bundle of dist/src (scripts/bundle-server.mjs). What it loads only
// when a configuration uses it sits in chunks of its own behind dynamic imports: this drives each
// of them through the command itself, a real process, a real SQLite file and real clients.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { type Publication, PulseClient } from '@pulse/client';
import WebSocket from 'ws';
import { SECRET, token } from './auth-helpers.js';
import { Inbox, freePort } from './helpers.js';
import { type PulseProcess, spawnPulse } from './pulse-process.js';
import { PULSE_BIN } from './workers-process.js';

const API_KEY = 'bundle-test-api-key-0001';
const dir = mkdtempSync(join(tmpdir(), 'pulse-bundle-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('the pulse command loads JWT, SQLite, the API schemas and the metrics registry when first used', async () => {
  const config = join(dir, 'pulse.toml');
  writeFileSync(config, '[[history]]\npattern = "h/#"\nsize = 100\n');
  const [port, metricsPort] = [await freePort(), await freePort()];
  const args = ['--config', config, '--sqlite', join(dir, 'pulse.db'), '--port', String(port)];
  args.push('--tcp-port', '0', '--mqtt-port', '0', '--metrics-port', String(metricsPort));
  const env = {
    PULSE_AUTH_ENABLED: 'true',
    PULSE_AUTH_JWT_HMAC_SECRET: SECRET,
    PULSE_AUTH_API_KEYS: API_KEY,
  };
  const start = async (): Promise<PulseProcess> => {
    const p = spawnPulse(args, env, { command: PULSE_BIN });
    await p.ready;
    return p;
  };
  const api = (path: string, body: string) =>
    fetch(`http://127.0.0.1:${port}/api/${path}`, {
      method: 'POST',
      headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' },
      body,
    });
  const connect = async () =>
    PulseClient.connect(`ws://127.0.0.1:${port}/ws`, {
      WebSocket: WebSocket as never,
      token: await token('u1', ['h/#']),
    });

  let pulse = await start();
  try {
    // The bundle links msgpackr's native string decoder by the path resolved at build time.
    const maps = readFileSync(`/proc/${pulse.child.pid}/maps`, 'utf8');
    assert.match(maps, /msgpackr-extract.*\.node$/m);
    const client = await connect();
    const inbox = new Inbox<Publication>();
    await client.subscribe('h/x', inbox.push);
    const wrongShape = await api('publish', '{"channel": 7}');
    assert.equal(wrongShape.status, 400);
    assert.match(await wrongShape.text(), /channel/);
    const published = await api('publish', '{"channel": "h/x", "data": {"n": 1}}');
    assert.equal(published.status, 200, await published.clone().text());
    const [p] = await inbox.waitFor(1);
    assert.deepEqual(JSON.parse(new TextDecoder().decode(p?.payload)), { n: 1 });
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    assert.match(metrics, /^pulse_connections\{[^}]*\} 1$/m);
    await client.close();
    const refused = PulseClient.connect(`ws://127.0.0.1:${port}/ws`, {
      WebSocket: WebSocket as never,
      token: 'not-a-jwt',
    });
    await assert.rejects(refused, (e: Error & { code?: number }) => e.code === 1003);

    await pulse.kill();
    pulse = await start();
    const again = await connect();
    const history = await again.history('h/x');
    assert.equal(history.publications.length, 1, 'the publication was stored in the SQLite file');
    await again.close();
  } finally {
    await pulse.kill();
  }
});
