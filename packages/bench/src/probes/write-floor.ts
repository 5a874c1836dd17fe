/**
 * The floor under any fan-out latency on this machine: how long a plain Node process takes to write
 * one 80-byte message to each of N loopback sockets (no WebSocket, no protocol, nothing to decode),
 * with the readers in another process. No server that writes each subscriber once per publication
 * can deliver to its last subscriber sooner.
 *
 * Usage: node packages/bench/dist/src/probes/write-floor.js [sockets=1000]
 * (pins itself to CPU 0 and its readers to CPU 1 when there are two cores and taskset).
 */
import { execFileSync, fork } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { percentile, sortedCopy } from '../percentiles.js';

const SOCKETS = Number(process.argv[2] ?? 1000);
const MESSAGE = Buffer.alloc(80, 0x61);

function pin(pid: number, cpu: string): void {
  if (os.cpus().length < 2) return;
  try {
    execFileSync('taskset', ['-a', '-p', '-c', cpu, String(pid)], { stdio: 'ignore' });
  } catch {
    // no taskset: unpinned
  }
}

if (process.argv[2] === '--readers') {
  // Child: open the sockets and read everything.
  const port = Number(process.argv[3]);
  const n = Number(process.argv[4]);
  for (let i = 0; i < n; i++) net.connect(port, '127.0.0.1').on('data', () => {});
  process.on('disconnect', () => process.exit(0));
} else {
  pin(process.pid, '0');
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => {
    s.setNoDelay(true);
    sockets.push(s);
    if (sockets.length === SOCKETS) void run();
  });
  server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as net.AddressInfo;
    const readers = fork(fileURLToPath(import.meta.url), ['--readers', String(port), String(SOCKETS)]);
    pin(readers.pid!, '1');
    process.on('exit', () => readers.kill());
  });

  const run = async (): Promise<void> => {
    console.log(`one ${MESSAGE.length}-byte write to each of ${SOCKETS} loopback sockets, per burst:`);
    for (const gapMs of [30, 5, 1, 0]) {
      const bursts: number[] = [];
      const end = Date.now() + 2000;
      while (Date.now() < end) {
        const start = process.hrtime.bigint();
        for (const s of sockets) s.write(MESSAGE);
        bursts.push(Number(process.hrtime.bigint() - start) / 1000);
        await new Promise((r) => (gapMs ? setTimeout(r, gapMs) : setImmediate(r)));
      }
      const sorted = sortedCopy(bursts);
      const p50 = percentile(sorted, 50);
      console.log(
        `  every ${gapMs} ms: p50 ${(p50 / 1000).toFixed(2)} ms (${(p50 / SOCKETS).toFixed(1)} µs per write), ` +
          `p99 ${(percentile(sorted, 99) / 1000).toFixed(2)} ms, ${bursts.length} bursts`,
      );
    }
    process.exit(0);
  };
}
