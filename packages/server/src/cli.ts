#!/usr/bin/env node
import { dirname } from 'node:path';
import { AuthConfigError } from './auth/errors.js';
import { ClusterStartError } from './cluster/cluster-error.js';
import { ConfigError, loadConfig } from './config/index.js';
import { runPasswd } from './passwd.js';
import { createLogger } from './log.js';
import { PulseServer } from './server.js';
import { StoreOpenError } from './storage/sqlite-store.js';
import { ListenError } from './transport/listen.js';
import { TlsConfigError } from './transport/tls.js';
import { VERSION } from './version.js';

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv[0] === 'passwd') {
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
  let server: PulseServer;
  try {
    server = new PulseServer(config, {
      logger: log,
      onFatal: () => {
        process.exitCode = 1;
        process.exit();
      },
    });
  } catch (err) {
    if (
      err instanceof StoreOpenError ||
      err instanceof TlsConfigError ||
      err instanceof AuthConfigError ||
      err instanceof ClusterStartError
    ) {
      process.stderr.write(`pulse: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  try {
    await server.start();
  } catch (err) {
    if (!(err instanceof ListenError || err instanceof ClusterStartError)) throw err;
    process.stderr.write(`pulse: ${err.message}\n`);
    return 1;
  }
  // SIGHUP reloads the TLS certificates; connections stay up (docs/SECURITY.md).
  process.on('SIGHUP', () => server.reloadTls());
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      log.info({ signal }, 'shutting down');
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
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
