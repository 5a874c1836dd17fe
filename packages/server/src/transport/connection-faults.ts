import type { Logger } from '../log.js';

/** Where an exception escaped a connection's callback: the `where` label of pulse_connection_errors_total. */
export const FAULT_SITES = ['accept', 'data', 'close', 'timer', 'flush', 'drain', 'auth'] as const;
export type FaultSite = (typeof FAULT_SITES)[number];

/**
 * For tests of the guards only (PulseServerOptions.faultProbe): called inside each guarded
 * callback with the site and the connection's label; what it throws is handled exactly like a
 * bug at that site.
 */
export type FaultProbe = (where: FaultSite, label: string) => void;

/**
 * Exceptions that escaped a connection's callbacks (bugs, or input the code did not expect):
 * each is logged on one line with the connection and counted by site. The connection is
 * closed by its owner (Connection.fail); the process and every other connection carry on.
 */
export class ConnectionFaults {
  readonly counts = new Map<FaultSite, number>(FAULT_SITES.map((site) => [site, 0]));

  constructor(
    private readonly log: Logger,
    readonly probe: FaultProbe | undefined = undefined,
  ) {}

  report(where: FaultSite, label: string, err: unknown): void {
    this.counts.set(where, (this.counts.get(where) ?? 0) + 1);
    try {
      this.log.error(
        { err, where, connection: label },
        `connection ${label} failed in ${where}; it was closed`,
      );
    } catch {
      // A logger that throws must not turn a contained fault into an escaped one.
    }
  }
}
