// `pulse --workers N`: real processes (the committed bin/pulse.js), a real nats-server, real clients.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Publication, PulseClient } from '@pulse/client';
import { openTcp } from '@pulse/client/tcp';
import { at } from '@pulse/protocol/test/element';
import WebSocket from 'ws';
import { Inbox, freePort, metricValue, sleep } from './helpers.js';
import { endAll, eventually, mqttClient } from './mqtt-helpers.js';
import { type NatsServer, startNatsServer } from './nats-server.js';
import { PULSE_BIN, type WorkersRun, alive, logLines, startWorkers, waitForLogs } from './workers-process.js';

const tcp = async (port: number) => PulseClient.over(await openTcp('127.0.0.1', port));
const scrape = async (run: WorkersRun) => (await fetch(run.metricsUrl)).text();
/** The pid of the process worker `name` runs now (its last "pulse listening" line). */
const pidOf = (run: WorkersRun, name: string) =>
  logLines(run.proc)
    .filter((l) => l.msg === 'pulse listening' && l.worker === name)
    .at(-1)?.pid as number;

/** Settles with true if `p` settles within `ms`, else false. */
const settlesWithin = (p: Promise<unknown>, ms: number) =>
  Promise.race([p.then(() => true), sleep(ms).then(() => false)]);

let nats: NatsServer;
before(async () => {
  nats = await startNatsServer();
});
after(async () => {
  await nats?.dispose();
});

describe('pulse --workers 2 joined through nats-server', () => {
  let run: WorkersRun;
  let cert: string;
  let certDir: string | undefined;
  /** Two native clients on the one TCP port, kept for the kill and SIGTERM tests. */
  let first: PulseClient;
  let second: PulseClient;

  before(async () => {
    certDir = mkdtempSync(join(tmpdir(), 'pulse-workers-cert-'));
    cert = join(certDir, 'cert.pem');
    const key = join(certDir, 'key.pem');
    execFileSync(
      '/usr/bin/openssl',
      [
        ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
        ...['-days', '2', '-subj', '/CN=pulse-workers', '-addext', 'subjectAltName=IP:127.0.0.1'],
        ...['-keyout', key, '-out', cert],
      ],
      { stdio: 'pipe' },
    );
    // MQTT over TLS: a TLS listener shared by the workers too.
    run = await startWorkers(nats.url, [
      '--mqtt-tls',
      '--tls-certificate-chain',
      cert,
      '--tls-private-key',
      key,
    ]);
  });
  after(async () => {
    first?.close();
    second?.close();
    await run?.proc.kill();
    if (run) await rm(run.dir, { recursive: true, force: true });
    if (certDir) await rm(certDir, { recursive: true, force: true });
  });

  test('both workers listen on every port, the same port from --port 0 in each; the primary has the metrics port', () => {
    const listening = logLines(run.proc).filter((l) => l.msg === 'pulse listening');
    assert.deepEqual(listening.map((l) => l.worker).sort(), ['w1', 'w2']);
    const [w1, w2] = listening;
    assert.ok(w1 && w2);
    assert.ok(run.httpPort > 0);
    for (const key of ['http', 'tcp', 'mqtt', 'metrics', 'tls']) assert.equal(w1[key], w2[key], key);
    assert.equal(w1.tcp, `127.0.0.1:${run.tcpPort}`);
    assert.equal(w1.mqtt, `127.0.0.1:${run.mqttPort}`);
    assert.equal(w1.tls, 'mqtt');
    assert.equal(w1.metrics, 'off', 'workers do not bind the metrics port');
    const primary = logLines(run.proc).find((l) => l.msg === 'pulse workers listening');
    assert.equal(primary?.metrics, new URL(run.metricsUrl).host);
    assert.equal(primary?.worker, undefined);
    assert.equal(run.pids.length, 2);
    assert.notEqual(run.pids[0], primary?.pid);
    const joined = logLines(run.proc).filter((l) => l.msg.startsWith('cluster: joined through nats'));
    assert.equal(joined.length, 2);
    assert.match(String(joined.find((l) => l.worker === 'w1')?.node), /:w1$/);
    assert.match(String(joined.find((l) => l.worker === 'w2')?.node), /:w2$/);
  });

  test('each worker has a SQLite file of its own next to storage.path', () => {
    const data = join(run.dir, 'data');
    assert.ok(existsSync(join(data, 'pulse.w1.db')), 'w1 file');
    assert.ok(existsSync(join(data, 'pulse.w2.db')), 'w2 file');
    assert.ok(!existsSync(join(data, 'pulse.db')), 'no shared file');
    const restored = logLines(run.proc).filter((l) => l.msg === 'state restored');
    assert.deepEqual(restored.map((l) => [l.worker, l.engine]).sort(), [
      ['w1', 'sqlite'],
      ['w2', 'sqlite'],
    ]);
  });

  test('two clients of one port land on different workers: a publication from one reaches the other through NATS', async () => {
    first = await tcp(run.tcpPort);
    second = await tcp(run.tcpPort);
    const inbox = new Inbox<Publication>();
    // Answered once nats-server holds the interest (docs/CLUSTER.md): no wait needed.
    await first.subscribe('news/today', inbox.push);
    const bytes = Buffer.from([0, 1, 2, 255, 254]);
    await second.publish('news/today', bytes);
    const [got] = await inbox.waitFor(1);
    assert.deepEqual(Buffer.from(got?.payload ?? []), bytes);
    const text = await scrape(run);
    // Received counts other nodes' publications only: the two clients are on two workers.
    assert.equal(metricValue(text, 'pulse_cluster_publications_sent_total'), 1);
    assert.equal(metricValue(text, 'pulse_cluster_publications_received_total'), 1);
  });

  test('/metrics: the primary answers for all workers, each series once, summed', async () => {
    const ws = await PulseClient.connect(`ws://127.0.0.1:${run.httpPort}/ws`, {
      WebSocket: WebSocket as never,
    });
    const mq = await mqttClient(`mqtts://127.0.0.1:${run.mqttPort}`, { ca: readFileSync(cert) });
    try {
      for (let i = 0; i < 4; i++) {
        const health = await fetch(`http://127.0.0.1:${run.httpPort}/health`);
        assert.equal(health.status, 200);
      }
      const text = await scrape(run);
      const series = (name: string) => text.split('\n').filter((l) => l.startsWith(`${name} `));
      assert.equal(series('pulse_connections{transport="tcp"}').length, 1, 'one series, not one per worker');
      assert.equal(metricValue(text, 'pulse_connections{transport="tcp"}'), 2);
      assert.equal(metricValue(text, 'pulse_connections{transport="ws"}'), 1);
      assert.equal(metricValue(text, 'pulse_connections{transport="mqtt"}'), 1);
      assert.equal(metricValue(text, 'pulse_connections_accepted_total{transport="tcp"}'), 2);
      assert.equal(metricValue(text, 'pulse_workers'), 2);
      assert.equal(metricValue(text, 'pulse_workers_ready'), 2);
      assert.equal(metricValue(text, 'pulse_workers_scraped'), 2);
      assert.equal(metricValue(text, 'pulse_cluster_engine_connected'), 2, 'summed: workers connected');
      assert.equal(
        metricValue(text, 'pulse_storage_info{engine="sqlite",commit_policy="balanced"}'),
        1,
        'an info metric is not summed',
      );
      assert.equal(series('pulse_process_start_time_seconds').length, 0, 'a start time is not summed');
    } finally {
      ws.close();
      await endAll(mq);
    }
    await eventually(
      async () => metricValue(await scrape(run), 'pulse_connections{transport="ws"}') === 0,
      'ws closed',
    );
  });

  test('kill -9 of a worker: one line from the primary, a restart, and the ports keep accepting', async () => {
    const victim = pidOf(run, 'w1');
    process.kill(victim, 'SIGKILL');
    // Exactly one of the two clients was on w1.
    const dropped = await Promise.race([
      first.closed.then(() => first),
      second.closed.then(() => second),
      sleep(3000).then(() => undefined),
    ]);
    assert.ok(dropped, 'a client of the killed worker was dropped');
    const other = dropped === first ? second : first;
    assert.equal(await settlesWithin(other.closed, 300), false, 'the client of the other worker stays');
    const [line] = await waitForLogs(run.proc, (l) => l.msg.startsWith('worker w1 exited'), 'the exit line');
    assert.equal(line?.msg, 'worker w1 exited with signal SIGKILL, restarting in 100 ms');
    assert.equal(line?.pid, victim);
    // Meanwhile the other worker takes every new connection.
    for (let i = 0; i < 3; i++) {
      const c = await tcp(run.tcpPort);
      c.close();
      assert.equal((await fetch(`http://127.0.0.1:${run.httpPort}/health`)).status, 200);
    }
    const [restarted] = await waitForLogs(run.proc, (l) => l.msg === 'worker w1 restarted', 'the restart');
    assert.notEqual(restarted?.pid, victim);
    assert.equal(pidOf(run, 'w1'), restarted?.pid);
    const relisten = logLines(run.proc).filter((l) => l.msg === 'pulse listening' && l.worker === 'w1');
    assert.equal(relisten.at(-1)?.http, `127.0.0.1:${run.httpPort}`, 'port 0: the same port again');
    assert.equal(alive(victim), false);
    // Its own file again: the lock died with the killed process.
    const restored = logLines(run.proc).filter((l) => l.msg === 'state restored' && l.worker === 'w1');
    assert.equal(restored.length, 2);
    const text = await scrape(run);
    assert.equal(metricValue(text, 'pulse_workers_restarts_total{worker="w1"}'), 1);
    assert.equal(metricValue(text, 'pulse_workers_ready'), 2);
    // Both workers serve the port again: two new clients talk across them.
    const a = await tcp(run.tcpPort);
    const b = await tcp(run.tcpPort);
    try {
      const inbox = new Inbox<Publication>();
      await a.subscribe('after/restart', inbox.push);
      await b.publish('after/restart', Buffer.from('x'));
      await inbox.waitFor(1);
    } finally {
      a.close();
      b.close();
    }
  });

  test('SIGTERM to the primary: every worker drains, all exit, exit code 0 within the drain timeout', async () => {
    const survivor = (await settlesWithin(first.closed, 1)) ? second : first;
    const pids = [pidOf(run, 'w1'), pidOf(run, 'w2')];
    const started = Date.now();
    run.proc.child.kill('SIGTERM');
    const code = await run.proc.exited;
    const took = Date.now() - started;
    assert.equal(code, 0, run.proc.output());
    assert.ok(took < 1000 + 3000, `stopped in ${took} ms`);
    const goodbye = await settlesWithin(survivor.closed, 1000);
    assert.equal(goodbye, true, 'the client was told and closed');
    for (const pid of pids) assert.equal(alive(pid), false, `worker ${pid} exited`);
    const stopped = logLines(run.proc).filter((l) => l.msg === 'pulse stopped');
    assert.deepEqual(stopped.map((l) => l.worker ?? 'primary').sort(), ['primary', 'w1', 'w2']);
  });
});

test('--workers 2 with cluster.engine none: one line, exit 2', () => {
  const res = spawnSync(process.execPath, [PULSE_BIN, '--workers', '2'], { encoding: 'utf8' });
  assert.equal(res.status, 2);
  const lines = res.stderr.trim().split('\n');
  assert.equal(lines.length, 1, res.stderr);
  assert.match(at(lines, 0), /^pulse: config error: server\.workers other than 1 needs \[cluster\] engine/);
  assert.match(
    at(lines, 0),
    /server\.workers = 2 \(from flag --workers\) and cluster\.engine = "none" \(default\)$/,
  );
  assert.equal(res.stdout, '', 'no worker was started');
});

test('a port the workers cannot listen on, or the metrics port in use: the listen line, exit 1', async () => {
  const port = await freePort();
  const blocker = createServer().listen(port, '127.0.0.1');
  await once(blocker, 'listening');
  const common = ['--workers', '2', '--cluster-engine', 'nats', '--cluster-url', nats.url, '--tcp-port', '0'];
  try {
    const http = spawnSync(
      process.execPath,
      [PULSE_BIN, ...common, '--mqtt-port', '0', '--metrics-port', '0', '--port', String(port)],
      { encoding: 'utf8', timeout: 20_000 },
    );
    assert.equal(http.status, 1, http.stderr);
    assert.equal(
      http.stderr.trim(),
      `pulse: cannot listen on 127.0.0.1:${port} (server.host / server.port): EADDRINUSE, the port is in use`,
    );
    const metrics = spawnSync(
      process.execPath,
      [PULSE_BIN, ...common, '--mqtt-port', '0', '--port', '0', '--metrics-port', String(port)],
      { encoding: 'utf8', timeout: 20_000 },
    );
    assert.equal(metrics.status, 1, metrics.stderr);
    assert.equal(
      metrics.stderr.trim(),
      `pulse: cannot listen on 127.0.0.1:${port} (metrics.host / metrics.port): EADDRINUSE, the port is in use`,
    );
    assert.doesNotMatch(metrics.stdout, /starting the workers/, 'before any worker');
  } finally {
    blocker.close();
  }
});

test('a worker that keeps failing: a line per restart, and after the 5th exit within 10 s pulse stops, exit 1', async () => {
  const run = await startWorkers(nats.url);
  try {
    // From now on w1 cannot open its store: each restart fails at start-up.
    const file = join(run.dir, 'data', 'pulse.w1.db');
    writeFileSync(`${file}.junk`, 'not a database, '.repeat(512));
    renameSync(`${file}.junk`, file);
    await rm(`${file}-wal`, { force: true });
    const w2 = pidOf(run, 'w2');
    process.kill(pidOf(run, 'w1'), 'SIGKILL');
    const code = await run.proc.exited;
    assert.equal(code, 1);
    const exits = logLines(run.proc).filter((l) => l.msg.startsWith('worker w1 exited'));
    assert.deepEqual(
      exits.map((l) => l.msg),
      [
        'worker w1 exited with signal SIGKILL, restarting in 100 ms',
        'worker w1 exited with code 1, restarting in 200 ms',
        'worker w1 exited with code 1, restarting in 400 ms',
        'worker w1 exited with code 1, restarting in 800 ms',
        'worker w1 exited with code 1, the 5th time within 10 s; stopping',
      ],
    );
    assert.equal(at(exits, 4).level, 60, 'fatal');
    const failures = logLines(run.proc).filter((l) => l.msg.startsWith('worker w1 could not start: '));
    assert.equal(failures.length, 4);
    assert.match(at(failures, 0).msg, /pulse\.w1\.db/);
    assert.equal(alive(w2), false, 'the other worker was stopped too');
    const stopped = logLines(run.proc).filter((l) => l.msg === 'pulse stopped');
    assert.deepEqual(stopped.map((l) => l.worker ?? 'primary').sort(), ['primary', 'w2']);
  } finally {
    await run.proc.kill();
    await rm(run.dir, { recursive: true, force: true });
  }
});

test('a hung worker (SIGSTOP) is killed after server.worker_watchdog_ms without an answer and restarted; the port serves again', async () => {
  const run = await startWorkers(nats.url, ['--server-worker-watchdog-ms', '1500']);
  try {
    const hung = pidOf(run, 'w1');
    process.kill(hung, 'SIGSTOP');
    const stopped = Date.now();
    const [line] = await waitForLogs(
      run.proc,
      (l) => l.msg.startsWith('worker w1 did not answer'),
      'the kill',
    );
    const took = Date.now() - stopped;
    assert.match(String(line?.msg), /^worker w1 did not answer for \d+ ms; killing it$/);
    assert.ok(took >= 1000 && took < 4000, `killed ${took} ms after it hung`);
    const [restarted] = await waitForLogs(run.proc, (l) => l.msg === 'worker w1 restarted', 'the restart');
    assert.notEqual(restarted?.pid, hung);
    assert.equal(alive(hung), false);
    for (let i = 0; i < 4; i++) {
      assert.equal((await fetch(`http://127.0.0.1:${run.httpPort}/health`)).status, 200);
    }
    // The one still listening was never killed: it answers its pings.
    assert.equal(logLines(run.proc).filter((l) => l.msg.startsWith('worker w2 did not answer')).length, 0);
  } finally {
    await run.proc.kill();
    await rm(run.dir, { recursive: true, force: true });
  }
});

test('a worker that does not stop is killed past the drain timeout + 5 s; the primary then exits 1', async () => {
  const run = await startWorkers(nats.url, ['--shutdown-drain-timeout-ms', '200']);
  try {
    const [w1, w2] = [pidOf(run, 'w1'), pidOf(run, 'w2')];
    process.kill(w1, 'SIGSTOP');
    const started = Date.now();
    run.proc.child.kill('SIGTERM');
    const code = await run.proc.exited;
    const took = Date.now() - started;
    assert.equal(code, 1);
    assert.ok(took >= 5200 && took < 5200 + 2000, `killed after ${took} ms`);
    const [line] = logLines(run.proc).filter((l) => l.msg.includes('did not stop'));
    assert.equal(line?.msg, 'worker w1 did not stop within 5200 ms; killing it');
    assert.equal(alive(w1), false);
    assert.equal(alive(w2), false);
  } finally {
    await run.proc.kill();
    await rm(run.dir, { recursive: true, force: true });
  }
});

test('kill -9 of the primary: the workers see their channel close, drain and exit', async () => {
  const run = await startWorkers(nats.url);
  try {
    const pids = [pidOf(run, 'w1'), pidOf(run, 'w2')];
    await run.proc.kill();
    await eventually(() => pids.every((pid) => !alive(pid)), 'the workers exit', 5000);
  } finally {
    await rm(run.dir, { recursive: true, force: true });
  }
});
