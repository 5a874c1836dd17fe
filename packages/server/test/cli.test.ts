import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { freePort, RawWs, sleep } from './helpers.js';
import { spawnPulse } from './pulse-process.js';

const cli = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [cli, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', ...env },
  });

test('--version and --help', () => {
  const version = run(['--version']);
  assert.equal(version.status, 0);
  assert.match(version.stdout, /^pulse \d+\.\d+\.\d+/);
  const help = run(['--help']);
  assert.equal(help.status, 0);
  for (const flag of [
    '--port',
    '--tcp-port',
    '--metrics-port',
    '--limits-max-connections',
    '--heartbeat-interval-ms',
    '--workers',
  ]) {
    assert.ok(help.stdout.includes(flag), `help lists ${flag}`);
  }
});

test('a config mistake stops start-up with one line naming the key and the source, exit 2', () => {
  const bad = run([], { PULSE_LIMITS_MAX_CONNECTIONS: 'lots' });
  assert.equal(bad.status, 2);
  const lines = bad.stderr.trim().split('\n');
  assert.equal(lines.length, 1);
  assert.match(at(lines, 0), /limits\.max_connections/);
  assert.match(at(lines, 0), /PULSE_LIMITS_MAX_CONNECTIONS/);
  const unknown = run(['--prot', '1']);
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /--prot/);
});

test('a port in use is one clear line naming the address and the setting, exit 1', async () => {
  const port = await freePort();
  const { createServer } = await import('node:net');
  const blocker = createServer().listen(port, '127.0.0.1');
  await once(blocker, 'listening');
  const off = ['--tcp-port', '0', '--metrics-port', '0', '--mqtt-port', '0'];
  // One listener after another: each line names the keys of the one that could not listen.
  const cases: [string[], string][] = [
    [['--port', String(port), ...off], 'server.host / server.port'],
    [['--port', '0', ...off, '--tcp-port', String(port)], 'server.host / transport.tcp_port'],
    [['--port', '0', ...off, '--mqtt-port', String(port)], 'server.host / mqtt.port'],
    [['--port', '0', ...off, '--bind', `127.0.0.1:${port}`], 'mqtt.host / mqtt.port'],
    [['--port', '0', ...off, '--metrics-port', String(port)], 'metrics.host / metrics.port'],
    [['--port', '0', ...off, '--mqtt-ws-port', String(port)], 'server.host / mqtt.ws_port'],
  ];
  try {
    for (const [args, keys] of cases) {
      const res = run(args);
      assert.equal(res.status, 1, res.stderr);
      assert.equal(
        res.stderr.trim(),
        `pulse: cannot listen on 127.0.0.1:${port} (${keys}): EADDRINUSE, the port is in use`,
      );
    }
  } finally {
    blocker.close();
  }
});

test('a host that does not resolve is one line naming the host, port and setting, exit 1', () => {
  const off = ['--tcp-port', '0', '--metrics-port', '0', '--mqtt-port', '0'];
  const res = run(['--host', 'nosuchhost.invalid', '--port', '8080', ...off]);
  assert.equal(res.status, 1);
  assert.match(
    res.stderr.trim(),
    /^pulse: cannot listen on nosuchhost\.invalid:8080 \(server\.host \/ server\.port\): (ENOTFOUND, no such host|EAI_AGAIN, .*)$/,
  );
});

test('the memory engine reports commit_policy "none" in its log line and metric, and warns about a configured one', async () => {
  const [port, metricsPort] = [await freePort(), await freePort()];
  const p = spawnPulse(
    ['--port', String(port), '--tcp-port', '0', '--mqtt-port', '0', '--metrics-port', String(metricsPort)],
    { PULSE_STORAGE_COMMIT_POLICY: 'strict' },
  );
  try {
    await p.ready;
    const lines = p
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l));
    const restored = lines.find((l) => l.msg === 'state restored');
    assert.deepEqual([restored.engine, restored.commit_policy], ['memory', 'none']);
    const warning = lines.find((l) => l.level === 40 && /commit_policy/.test(l.msg));
    assert.match(
      warning?.msg ?? '',
      /storage\.commit_policy = "strict" \(from env PULSE_STORAGE_COMMIT_POLICY\)/,
    );
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    assert.match(metrics, /^pulse_storage_info\{engine="memory",commit_policy="none"\} 1$/m);
  } finally {
    await p.kill();
  }
});

test('runs, logs a periodic registry report, serves metrics, exits 0 on SIGTERM after draining', async () => {
  const [port, tcpPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
  const child = spawn(
    process.execPath,
    [cli, '--port', String(port), '--tcp-port', String(tcpPort), '--metrics-port', String(metricsPort)],
    { env: { PATH: process.env.PATH ?? '', PULSE_MQTT_PORT: '0', PULSE_LOG_REPORT_INTERVAL_MS: '100' } },
  );
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  for (let i = 0; i < 100 && !out.includes('pulse listening'); i++) await sleep(50);
  const client = await RawWs.open(`ws://127.0.0.1:${port}/ws`);
  for (let i = 0; i < 40 && !out.includes('registry report'); i++) await sleep(50);
  const report = out.split('\n').find((l) => l.includes('registry report'));
  assert.ok(report, 'a registry report was logged');
  assert.equal(JSON.parse(report).connections >= 0, true);
  const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  assert.match(metrics, /^pulse_connections\{transport="ws"\} 1$/m);
  const health = await fetch(`http://127.0.0.1:${port}/healthz`);
  assert.equal(await health.text(), 'ok');
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  assert.equal(code, 0);
  assert.equal(await client.closed, 1001);
  assert.match(out, /shutting down/);
});

test('cluster start-up problems are one line, exit 1: a URL of another engine; a required engine that does not answer', async () => {
  const off = ['--port', '0', '--tcp-port', '0', '--metrics-port', '0', '--mqtt-port', '0'];
  const wrong = run([...off, '--cluster-engine', 'nats', '--cluster-url', 'redis://127.0.0.1:6379']);
  assert.equal(wrong.status, 1);
  assert.equal(
    wrong.stderr.trim(),
    'pulse: cluster.url "redis://127.0.0.1:6379" is not a nats URL (cluster.engine = "nats" takes nats:// or tls://)',
  );
  const port = await freePort();
  const absent = run(off, { NATS_URL: `nats://127.0.0.1:${port}`, PULSE_CLUSTER_REQUIRED: 'true' });
  assert.equal(absent.status, 1);
  const lines = absent.stderr.trim().split('\n');
  assert.equal(lines.length, 1, absent.stderr);
  assert.match(
    at(lines, 0),
    new RegExp(`^pulse: cluster.required: nats at nats://127\\.0\\.0\\.1:${port} unreachable: `),
  );
});
