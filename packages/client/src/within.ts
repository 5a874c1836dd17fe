import { PulseClientError } from './errors.js';

/**
 * Runs `work` for at most `ms`, or until `stop` aborts. Then the promise rejects (`timeout`
 * with `message`, or `closed`), the signal handed to `work` aborts so that it lets go of what
 * it was opening, and a result that still comes is handed to `late`. No timer outlives it.
 */
export function within<T>(
  work: (signal: AbortSignal) => Promise<T>,
  ms: number,
  message: string,
  stop: AbortSignal,
  late: (value: T) => void = () => {},
): Promise<T> {
  return new Promise((resolve, reject) => {
    const aborter = new AbortController();
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      clearTimeout(timer);
      stop.removeEventListener('abort', onStop);
      return true;
    };
    const give = (err: PulseClientError): void => {
      if (!settle()) return;
      aborter.abort();
      reject(err);
    };
    const onStop = () => give(new PulseClientError('closed', 'the client is closed'));
    const timer = setTimeout(() => give(new PulseClientError('timeout', message)), ms);
    stop.addEventListener('abort', onStop);
    if (stop.aborted) return onStop();
    let running: Promise<T>;
    try {
      running = Promise.resolve(work(aborter.signal));
    } catch (err) {
      running = Promise.reject(err);
    }
    running.then(
      (value) => {
        if (settle()) resolve(value);
        else late(value);
      },
      (err: unknown) => {
        if (settle()) reject(err);
      },
    );
  });
}
