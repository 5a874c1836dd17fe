import { AuthConfigError } from './auth/errors.js';
import { ClusterStartError } from './cluster/cluster-error.js';
import type { PulseConfig } from './config/index.js';
import type { Logger } from './log.js';
import { PulseServer } from './server.js';
import { StoreOpenError } from './storage/sqlite-store.js';
import { ListenError } from './transport/listen.js';
import { TlsConfigError } from './transport/tls.js';

/** A started server, or why it could not start in one line (the CLI prints it and exits 1). */
export type Opened = { server: PulseServer } | { failure: string };

/** The errors that are a problem of the setup (a file, a port, the engine), not a bug. */
function isStartProblem(err: unknown): err is Error {
  return (
    err instanceof StoreOpenError ||
    err instanceof TlsConfigError ||
    err instanceof AuthConfigError ||
    err instanceof ClusterStartError ||
    err instanceof ListenError
  );
}

/** Builds and starts the server the CLI (or one worker) runs; anything but a start problem is thrown. */
export async function openServer(
  config: PulseConfig,
  log: Logger,
  onFatal: (err: Error) => void,
): Promise<Opened> {
  let server: PulseServer;
  try {
    server = new PulseServer(config, { logger: log, onFatal });
  } catch (err) {
    if (isStartProblem(err)) return { failure: err.message };
    throw err;
  }
  try {
    await server.start();
  } catch (err) {
    if (isStartProblem(err)) return { failure: err.message };
    throw err;
  }
  return { server };
}

/** Resolves at the first SIGINT or SIGTERM, logged. */
export function untilStopSignal(log: Logger): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      log.info({ signal }, 'shutting down');
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
