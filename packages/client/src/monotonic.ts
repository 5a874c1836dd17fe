/**
 * Milliseconds on a clock that only moves forward (browsers and Node have `performance`):
 * for durations, which a wall clock set back or forward (NTP, the user) would stretch or cut.
 */
export function monotonicNow(): number {
  return performance.now();
}
