#!/usr/bin/env node
import { dirname } from 'node:path';
import { ConfigError, loadConfig } from './config/index.js';
import { createLogger } from './log.js';
import { VERSION } from './version.js';
import { wantsWorkers } from './workers/worker-config.js';

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  // The subcommand and the primary of server.workers are imported when used: a server that runs
  // neither is smaller without their code (docs/ARCHITECTURE.md, "What a server loads").
  if (argv[0] === 'passwd') {
    const { runPasswd } = await import('./passwd.js');
    return runPasswd(argv.slice(1), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr });
  }
  let result: ReturnType<typeof loadConfig>;
  try {
    // Node's argv[1] is the script being run: this file.
    result = loadConfig(argv, process.env, process.cwd(), VERSION, dirname(process.argv[1] as string));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`pulse: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (result.kind === 'help' || result.kind === 'version') {
    process.stdout.write(`${result.text}\n`);
    return 0;
  }
  const { config } = result;
  const log = createLogger(config.log.level);
  if (result.configFile) log.info({ file: result.configFile }, 'configuration loaded');
  for (const warning of result.warnings) log.warn({ file: result.configFile }, warning);
  // server.workers: this process forks the workers and serves no client itself (docs/CLUSTER.md).
  if (wantsWorkers(config)) {
    const { runPrimary } = await import('./workers/primary.js');
    return runPrimary(config, log);
  }
  // Loaded here: a primary never runs a server, and is smaller without its code.
  const { openServer, untilStopSignal } = await import('./run-server.js');
  const opened = await openServer(config, log, () => {
    process.exitCode = 1;
    process.exit();
  });
  if ('failure' in opened) {
    process.stderr.write(`pulse: ${opened.failure}\n`);
    return 1;
  }
  const { server } = opened;
  // SIGHUP reloads the TLS certificates; connections stay up (docs/SECURITY.md).
  process.on('SIGHUP', () => server.reloadTls());
  await untilStopSignal(log);
  await server.stop();
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`pulse: internal error: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  },
);
