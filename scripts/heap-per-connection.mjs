#!/usr/bin/env node
// Heap per idle connection, by constructor: a diff of two heap snapshots of a `pulse` process,
// before and after N idle clients (each subscribed to a channel of its own), both after a full GC.
// The inspector is opened from outside (SIGUSR1), as the bench's GC probe does.
//
//   node scripts/heap-per-connection.mjs [N=2000] [ws|mqtt4|mqtt5]
//
// Used for docs/BENCHMARKS.md, "(c2) one MQTT parser for all connections". Needs `npm run build`.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import { PulseClient } from '../packages/client/dist/pkg/index.js';

const N = Number(process.argv[2] ?? 2000);
const kind = process.argv[3] ?? 'mqtt4';
const PULSE = fileURLToPath(new URL('../packages/server/bin/pulse.js', import.meta.url));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const freePort = () =>
  new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

const [httpPort, mqttPort, inspectPort] = [await freePort(), await freePort(), await freePort()];
const server = spawn(
  'node',
  [
    '--max-semi-space-size=8',
    `--inspect-port=${inspectPort}`,
    PULSE,
    ...['--host', '127.0.0.1', '--port', String(httpPort), '--mqtt-port', String(mqttPort)],
    ...['--log', 'warn', '--limits-max-connections', '100000'],
  ],
  { stdio: ['ignore', 'inherit', 'ignore'] },
);
await sleep(1500);

function openClient(i) {
  if (kind === 'ws') {
    return PulseClient.connect(`ws://127.0.0.1:${httpPort}/ws`, { WebSocket }).then(async (c) => {
      await c.subscribe(`idle/${i}`);
      return c;
    });
  }
  const c = mqtt.connect(`mqtt://127.0.0.1:${mqttPort}`, {
    protocolVersion: kind === 'mqtt5' ? 5 : 4,
    clientId: `idle-${i}`,
    reconnectPeriod: 0,
  });
  return new Promise((resolve) => c.on('connect', () => c.subscribe(`idle/${i}`, () => resolve(c))));
}

async function snapshotByConstructor() {
  process.kill(server.pid, 'SIGUSR1');
  await sleep(300);
  const [target] = await (await fetch(`http://127.0.0.1:${inspectPort}/json/list`)).json();
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((r) => ws.once('open', r));
  let id = 0;
  const chunks = [];
  const call = (method, params = {}) =>
    new Promise((resolve) => {
      const mine = ++id;
      const onMessage = (data) => {
        const m = JSON.parse(data.toString());
        if (m.method === 'HeapProfiler.addHeapSnapshotChunk') chunks.push(m.params.chunk);
        if (m.id === mine) {
          ws.off('message', onMessage);
          resolve(m.result);
        }
      };
      ws.on('message', onMessage);
      ws.send(JSON.stringify({ id: mine, method, params }));
    });
  await call('HeapProfiler.enable');
  await call('HeapProfiler.collectGarbage');
  await call('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
  ws.close();
  const snap = JSON.parse(chunks.join(''));
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const [ti, ni, si] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
  const byName = new Map();
  for (let i = 0; i < snap.nodes.length; i += fields.length) {
    const type = types[snap.nodes[i + ti]];
    const name = /string/.test(type)
      ? '(string)'
      : `${type}:${snap.strings[snap.nodes[i + ni]].slice(0, 50)}`;
    const e = byName.get(name) ?? [0, 0];
    e[0]++;
    e[1] += snap.nodes[i + si];
    byName.set(name, e);
  }
  return byName;
}

// One client first, so that what the first connection loads (codecs, compiled code) is in both.
const warm = await openClient('warm');
const before = await snapshotByConstructor();
const clients = [];
for (let i = 0; i < N; i += 200) {
  clients.push(
    ...(await Promise.all(Array.from({ length: Math.min(200, N - i) }, (_, k) => openClient(i + k)))),
  );
}
await sleep(2000);
const after = await snapshotByConstructor();
let total = 0;
const rows = [];
for (const [name, [count, size]] of after) {
  const [c0, s0] = before.get(name) ?? [0, 0];
  total += size - s0;
  if (Math.abs(size - s0) > N * 8) rows.push([name, (count - c0) / N, (size - s0) / N]);
}
rows.sort((a, b) => b[2] - a[2]);
console.log(
  `heap per ${kind} connection: ${(total / N).toFixed(0)} B (${N} clients; "code:" rows are compilation, not connections)`,
);
for (const [name, count, size] of rows.slice(0, 30)) {
  console.log(`${size.toFixed(0).padStart(6)} B  ${count.toFixed(2).padStart(6)}×  ${name}`);
}
server.kill();
for (const c of [warm, ...clients]) (c.end ?? c.close).call(c);
process.exit(0);
