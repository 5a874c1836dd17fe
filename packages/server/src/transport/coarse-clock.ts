/** A clock read once per heartbeat sweep, so that the data path never reads the time. */
export class CoarseClock {
  now = performance.now();

  tick(): number {
    this.now = performance.now();
    return this.now;
  }
}
